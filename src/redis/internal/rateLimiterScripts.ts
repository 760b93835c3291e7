/**
 * The rate limiter's Lua scripts, one per algorithm. Each decides one request atomically in Redis with
 * Redis's own clock (`TIME`), so a call is one round trip (EVALSHA; ioredis loads a script on its first
 * NOSCRIPT) and process clocks play no part.
 *
 * Every script takes an operation first: `acquire <permits> <maxWaitMillis>` answers one integer (a
 * table reply costs Redis measurably more): `w >= 0` granted, to be used after `w` microseconds; `-1`
 * refused, never grantable; `w <= -2` refused, grantable after `-w - 2` microseconds. `available` and
 * `drain` answer a count. Inside, time is whole microseconds since the epoch (exact in a double), so
 * replies are integers (Redis would truncate a fractional Lua number) and waits are rounded up: never
 * granted early. Every write renews the key's expiry to a little more than the time the state takes to
 * be forgotten, so an abandoned limiter's keys vanish. The scripts are kept lean: their cost in Redis is
 * the store's throughput.
 *
 * Settings: after the operation comes the caller's settings `fingerprint` (which also carries them, see
 * each script), a take-over flag (`1`: the caller's settings replace the stored ones, sent by a limiter's
 * first call after `reconfigure`), then the operation's arguments. The state stores the fingerprint of
 * the settings it is kept under and when a caller using them last came (`s`). A caller with other
 * settings is decided by the stored ones (first writer wins: the fleet never gets the larger of two
 * limits, nor their sum) and the reply is then a table `{ answer, 1 }` (only then: the common reply stays
 * an integer); its settings take over once nobody has used the stored ones for one period (a rolling
 * deploy is over), when the state expires, or when it asks to take over.
 *
 * @internal
 */

export interface Script {
  /** The ioredis command name it is defined under. */
  readonly command: string
  readonly numberOfKeys: number
  readonly lua: string
}

const prelude = `
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local op = ARGV[1]
local fp = ARGV[2]
local conflict = false
-- Why the stored state was discarded ('' when it parsed).
local lost = ''
local function answer(v)
  if lost ~= '' then return { v, conflict and 1 or 0, lost } end
  if conflict then return { v, 1 } end
  return v
end
local MAX_INT = 9007199254740992
local function isInt(v, min) local x = tonumber(v) return x ~= nil and x == math.floor(x) and x >= min and x < MAX_INT end
local function isNum(v) local x = tonumber(v) return x ~= nil and x == x and x > -math.huge and x < math.huge end
-- State reaching into the future (a reservation) must expire no earlier: a key without a TTL, or with one
-- shorter than its horizon, was not written by these scripts.
local function outlives(key, horizonMicros)
  local ttl = redis.call('PTTL', key)
  return ttl >= 0 and horizonMicros / 1000 <= ttl + 1
end
`

/**
 * Fixed window (Resilience4j's reservation semantics) on epoch-aligned cycles. A hash holds `k`, the
 * latest cycle holding grants or reservations (the frontier), `u` its permits used, `f` the fingerprint
 * `limit:periodMicros` and `s` the latest cycle a caller with those settings came in. A request is
 * granted in the frontier if it fits there, else in the next cycle — never in a cycle before the
 * frontier, so nobody overtakes a waiting reservation — if that cycle starts within `maxWait`. The
 * common path is one HMGET and one HINCRBY; a new frontier rewrites the hash and its expiry. A change of
 * period starts afresh (cycles of two periods do not compare). The limit and period also come as plain
 * arguments after the operation's (parsing the fingerprint on every call costs Redis measurably).
 */
export const fixedWindow: Script = {
  command: "breakwaterFixedWindow",
  numberOfKeys: 1,
  // No prelude: its closures cost every call; this script is the hot path of the default algorithm.
  lua: `
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local op = ARGV[1]
local fp = ARGV[2]
local limit = tonumber(ARGV[6])
local period = tonumber(ARGV[7])
local h = redis.pcall('HMGET', KEYS[1], 'k', 'u', 'f', 's')
local cur = math.floor(now / period)
-- Anyone who can write to Redis can leave anything here: state that does not parse is lost state
-- (deleted, reported in the reply), never used and never given a new TTL.
local lost = ''
local sl, sp, scur
if h.err then
  lost = 'wrong type'
elseif h[1] or h[2] or h[3] or h[4] then
  local k0, u0, s0 = tonumber(h[1]), tonumber(h[2]), tonumber(h[4])
  if not (k0 and u0 and s0 and h[3] and k0 == math.floor(k0) and u0 == math.floor(u0) and s0 == math.floor(s0)
    and k0 >= 0 and u0 >= 0 and s0 >= 0 and k0 < 9007199254740992 and u0 < 9007199254740992) then
    lost = 'invalid fields'
  else
    sl, sp = limit, period
    if h[3] ~= fp then
      sl, sp = string.match(h[3], '^(%d+):(%d+)$')
      sl = tonumber(sl)
      sp = tonumber(sp)
      if not (sl and sp and sl >= 1 and sp >= 1 and sp < 9007199254740992) then lost = 'invalid settings' end
    end
    if lost == '' then
      scur = math.floor(now / sp)
      if s0 > scur then lost = 'invalid s'
      elseif k0 > scur + 1 then
        -- A frontier ahead is a reservation: the scripts gave the key a TTL that outlasts it.
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 or (k0 * sp - now) / 1000 > ttl + 1 then lost = 'frontier beyond its expiry' end
      end
    end
  end
end
if lost ~= '' then
  redis.call('DEL', KEYS[1])
  h = { false, false, false, false }
end
local k, used, seen, same, conflict = cur, 0, cur, false, false
if h[3] and h[3] ~= fp then
  if ARGV[3] ~= '1' and tonumber(h[4]) >= scur - 1 then
    conflict = true
    limit, period, cur, fp = sl, sp, scur, h[3]
    seen = tonumber(h[4])
  elseif sp ~= period then
    h[1] = false
  end
end
if h[1] then
  local sk = tonumber(h[1])
  if sk >= cur then
    k = sk
    used = tonumber(h[2])
    same = h[3] == fp
  end
end
if op == 'acquire' then
  local permits = tonumber(ARGV[4])
  local answer
  if permits > limit then
    answer = -1
  else
    if limit - used < permits then
      k = k + 1
      used = 0
      same = false
    end
    local wait = math.ceil(k * period - now)
    if wait < 0 then wait = 0 end
    if wait > tonumber(ARGV[5]) * 1000 then
      answer = -2 - wait
    else
      answer = wait
      if same then
        -- Set when cycle k became the frontier, the expiry already outlasts it by a period.
        redis.call('HINCRBY', KEYS[1], 'u', permits)
        if not conflict and tonumber(h[4]) ~= cur then redis.call('HSET', KEYS[1], 's', cur) end
      else
        redis.call('HSET', KEYS[1], 'k', k, 'u', used + permits, 'f', fp, 's', seen)
        redis.call('PEXPIRE', KEYS[1], math.ceil((k - cur + 2) * period / 1000))
      end
    end
  end
  if lost ~= '' then return { answer, conflict and 1 or 0, lost } end
  if conflict then return { answer, 1 } end
  return answer
end
local result
if op == 'available' then
  if k == cur then result = limit - used else result = -(used + (k - cur - 1) * limit) end
elseif k > cur or used >= limit then
  result = 0
else
  redis.call('HSET', KEYS[1], 'k', cur, 'u', limit, 'f', fp, 's', seen)
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * period / 1000))
  result = limit - used
end
if lost ~= '' then return { result, conflict and 1 or 0, lost } end
return result
`
}

/**
 * Token bucket: `capacity` tokens refilled continuously at `rate` per microsecond. Tokens may go negative
 * (reservations waiting for tokens not refilled yet); `q` is the latest reserved time, before which no
 * newcomer is served. A hash holds `t` tokens, `l` the time they were counted, `q`, the fingerprint
 * `f` = `ratePerMicro:capacity` and `s`, the latest time a caller with those settings came (stored
 * settings stay while used within one full refill).
 */
export const tokenBucket: Script = {
  command: "breakwaterTokenBucket",
  numberOfKeys: 1,
  lua: prelude + `
local rate, capacity = string.match(fp, '^([^:]+):(.+)$')
rate = tonumber(rate)
capacity = tonumber(capacity)
local h = redis.pcall('HMGET', KEYS[1], 't', 'l', 'q', 'f', 's')
local sr, sc
if h.err then
  lost = 'wrong type'
elseif h[1] or h[2] or h[3] or h[4] or h[5] then
  if not (isNum(h[1]) and isInt(h[2], 0) and isInt(h[3], 0) and isInt(h[5], 0) and h[4]) then
    lost = 'invalid fields'
  else
    sr, sc = string.match(h[4], '^([^:]+):(.+)$')
    sr = tonumber(sr)
    sc = tonumber(sc)
    if not (isNum(sr) and isNum(sc) and sr > 0 and sc >= 1) then lost = 'invalid settings'
    elseif tonumber(h[2]) > now or tonumber(h[5]) > now then lost = 'invalid time'
    elseif tonumber(h[3]) > now and not outlives(KEYS[1], tonumber(h[3]) - now) then lost = 'reservation beyond its expiry' end
  end
end
if lost ~= '' then
  redis.call('DEL', KEYS[1])
  h = { false, false, false, false, false }
end
local seen = now
if h[4] and h[4] ~= fp then
  if ARGV[3] ~= '1' and now - tonumber(h[5]) <= sc / sr then
    conflict = true
    rate, capacity, fp = sr, sc, h[4]
    seen = tonumber(h[5])
  end
end
local tokens = capacity
local queue = 0
if h[2] then
  local last = tonumber(h[2])
  tokens = tonumber(h[1])
  queue = tonumber(h[3])
  if now > last then tokens = tokens + (now - last) * rate end
  if tokens > capacity then tokens = capacity end
end
local function save(wait)
  redis.call('HSET', KEYS[1], 't', tokens, 'l', now, 'q', queue, 'f', fp, 's', seen)
  redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(wait, (capacity - tokens) / rate) + 1 / rate) / 1000) + 1000)
end
if op == 'acquire' then
  local permits = tonumber(ARGV[4])
  local at = now
  if queue > at then at = queue end
  if tokens < permits then
    if permits > capacity then return answer(-1) end
    at = math.max(at, now + math.ceil((permits - tokens) / rate))
  end
  local wait = at - now
  if wait > tonumber(ARGV[5]) * 1000 then return answer(-2 - wait) end
  tokens = tokens - permits
  if at > queue then queue = at end
  save(wait)
  return answer(wait)
end
if op == 'available' then return answer(math.floor(tokens)) end
if tokens <= 0 then return answer(0) end
local drained = math.floor(tokens)
tokens = tokens - drained
save(0)
return answer(drained)
`
}

/**
 * Sliding window, exact: a sorted set of grants scored by the time (microseconds) their holder runs, whose
 * member `cumulative:permits` carries the running total of permits granted up to and including it (all
 * time, also in the hash's `c`). Grants are added in time order, so the running total grows with the
 * score: the permits live in the window are `c` minus the total before the oldest live grant, and the
 * grant that must leave the window before a request fits is found by a binary search over ranks —
 * O(log² N) per call whatever the limit, never a scan of the log. Grants leave the set once older than
 * the window. A request runs at the earliest time, not before the newest grant (arrival order), at which
 * it fits in the window. Memory: at most one entry per grant in the window. The hash also holds the
 * fingerprint `f` = `windowMicros:limit` and `s`, the latest time a caller with those settings came.
 * KEYS: the set, the hash.
 */
export const slidingWindow: Script = {
  command: "breakwaterSlidingWindow",
  numberOfKeys: 2,
  lua: prelude + `
local window, limit = string.match(fp, '^([^:]+):(.+)$')
window = tonumber(window)
limit = tonumber(limit)
-- Anyone who can write to Redis can leave anything here: state that does not parse (found while deciding,
-- before any write) is lost state: both keys deleted, the decision taken again on none, and reported.
local function corrupt(why) error({ corrupt = why }) end
local function decide()
local h = redis.pcall('HMGET', KEYS[2], 'c', 'f', 's')
if h.err then corrupt('wrong type') end
if h[1] or h[2] or h[3] then
  if not (isInt(h[1], 0) and h[2] and isInt(h[3], 0)) then corrupt('invalid fields') end
  if tonumber(h[3]) > now then corrupt('invalid time') end
end
local seen = now
if h[2] and h[2] ~= fp then
  local sw, sl = string.match(h[2], '^([^:]+):(.+)$')
  sw = tonumber(sw)
  sl = tonumber(sl)
  if not (isInt(sw, 1) and isInt(sl, 1)) then corrupt('invalid settings') end
  if ARGV[3] ~= '1' and now - tonumber(h[3]) <= sw then
    conflict = true
    window, limit, fp = sw, sl, h[2]
    seen = tonumber(h[3])
  end
end
local c = tonumber(h[1]) or 0
local removed = redis.pcall('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window))
if type(removed) == 'table' and removed.err then corrupt('wrong type') end
-- The running total before the entry at a rank, and the entry's time.
local function at(rank)
  local e = redis.call('ZRANGE', KEYS[1], rank, rank, 'WITHSCORES')
  if #e == 0 then return nil end
  local cum, w = string.match(e[1], '^(%d+):(%d+)$')
  cum = tonumber(cum)
  w = tonumber(w)
  if cum == nil or w == nil or w > cum or cum > c or not isNum(e[2]) then corrupt('invalid entry') end
  return cum - w, tonumber(e[2]), cum
end
local function liveFrom(rank)
  local before = at(rank)
  if before == nil then return 0 end
  return c - before
end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local lastTime = -1
if #newest > 0 then
  lastTime = tonumber(newest[2])
  if lastTime == nil or (lastTime > now and not outlives(KEYS[1], lastTime - now)) then corrupt('grant beyond its expiry') end
end
local function push(time, permits)
  c = c + permits
  redis.call('ZADD', KEYS[1], string.format('%d', time), string.format('%d:%d', c, permits))
  redis.call('HSET', KEYS[2], 'c', c, 'f', fp, 's', seen)
  local ttl = math.ceil((time - now + 2 * window) / 1000)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
if op == 'available' then return limit - liveFrom(0) end
if op == 'drain' then
  local free = limit - liveFrom(0)
  if free <= 0 then return 0 end
  push(math.max(now, lastTime), free)
  return free
end
local permits = tonumber(ARGV[4])
if permits > limit then return -1 end
local start = math.max(now, lastTime)
-- Grants at or before start - window have left the window by start.
local lo = redis.call('ZCOUNT', KEYS[1], '-inf', string.format('%d', start - window))
local time = start
if liveFrom(lo) + permits > limit then
  -- The earliest grant whose leaving frees enough: the first with running total >= need.
  local need = c - limit + permits
  local hi = redis.call('ZCARD', KEYS[1]) - 1
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local _, _, cum = at(mid)
    if cum >= need then hi = mid else lo = mid + 1 end
  end
  local _, score = at(lo)
  time = math.max(start, score + window)
end
time = math.ceil(time)
local wait = time - now
if wait > tonumber(ARGV[5]) * 1000 then return -2 - wait end
push(time, permits)
return wait
end
local settings = { window, limit, fp }
local ok, result = pcall(decide)
if not ok then
  if type(result) ~= 'table' or not result.corrupt then error(result) end
  lost = result.corrupt
  redis.call('DEL', KEYS[1], KEYS[2])
  window, limit, fp = settings[1], settings[2], settings[3]
  conflict = false
  result = decide()
end
return answer(result)
`
}

/**
 * A quota learned from the upstream (`learnedQuota.ts` is the reference): a hash `r` remaining, `t` the
 * reset (epoch millis, Redis's clock), `q`/`w` the announced policy for one renewal after it. Operations:
 * `learn <remaining> <resetAfterMillis> <limit|-1> <windowMillis|-1>` (a lower count for the same reset,
 * within 1 s, wins) answers 0; `take <permits>` answers `-1` when no quota is in force, else
 * `{ granted 0|1, remaining, resetAfterMillis }`. Stored values that are not whole numbers in range (a
 * count above 10^9, a reset more than two days ahead, a window above one day) are not this script's:
 * the key is deleted and the quota counts as not learned. The key expires with the quota.
 */
export const learnedQuota: Script = {
  command: "breakwaterLearnedQuota",
  numberOfKeys: 1,
  lua: `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local op = ARGV[1]
local MAXQ = 1000000000
local MAXW = 86400000
local function int(v, max)
  local x = tonumber(v)
  if x == nil or x ~= math.floor(x) or x < 0 or x > max then return nil end
  return x
end
local r, rt, q, w
local h = redis.call('HMGET', KEYS[1], 'r', 't', 'q', 'w')
if h[1] or h[2] then
  r = int(h[1], MAXQ)
  rt = int(h[2], now + 2 * MAXW)
  local bad = r == nil or rt == nil
  if h[3] then q = int(h[3], MAXQ) bad = bad or q == nil end
  if h[4] then w = int(h[4], MAXW) bad = bad or w == nil or w == 0 end
  if bad then
    redis.call('DEL', KEYS[1])
    r = nil
  end
end
-- settle: past the reset, one renewal at the announced policy, then nothing
if r ~= nil and now >= rt then
  if q ~= nil and w ~= nil and now < rt + w then
    r = q rt = rt + w q = nil w = nil
  else
    r = nil
  end
end
local function save()
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'r', r, 't', rt)
  if q ~= nil and w ~= nil then redis.call('HSET', KEYS[1], 'q', q, 'w', w) end
  redis.call('PEXPIRE', KEYS[1], math.max(1, rt + (w or 0) - now))
end
if op == 'learn' then
  local nr = int(ARGV[2], MAXQ)
  local nt = int(ARGV[3], MAXW)
  if nr == nil or nt == nil or nt == 0 then return 0 end
  nt = now + nt
  local nq = int(ARGV[4], MAXQ)
  local nw = int(ARGV[5], MAXW)
  if nq == nil or nw == nil or nw == 0 then nq = nil nw = nil end
  if r ~= nil and math.abs(rt - nt) <= 1000 then
    r = math.min(r, nr) rt = math.max(rt, nt)
  else
    r = nr rt = nt
  end
  q = nq w = nw
  save()
  return 0
end
if op == 'take' then
  if r == nil then return -1 end
  local p = tonumber(ARGV[2])
  local granted = 0
  if r >= p then
    r = r - p
    granted = 1
    save()
  end
  return { granted, r, rt - now }
end
return redis.error_reply('unknown operation')
`
}

export const scripts: ReadonlyArray<Script> = [fixedWindow, tokenBucket, slidingWindow, learnedQuota]
