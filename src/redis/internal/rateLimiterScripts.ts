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
local function answer(v)
  if conflict then return { v, 1 } end
  return v
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
local h = redis.call('HMGET', KEYS[1], 'k', 'u', 'f', 's')
local cur = math.floor(now / period)
local k, used, seen, same, conflict = cur, 0, cur, false, false
if h[3] and h[3] ~= fp then
  local sl, sp = string.match(h[3], '^([^:]+):(.+)$')
  sl = tonumber(sl)
  sp = tonumber(sp)
  local scur = math.floor(now / sp)
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
  if conflict then return { answer, 1 } end
  return answer
end
if op == 'available' then
  if k == cur then return limit - used end
  return -(used + (k - cur - 1) * limit)
end
if k > cur or used >= limit then return 0 end
redis.call('HSET', KEYS[1], 'k', cur, 'u', limit, 'f', fp, 's', seen)
redis.call('PEXPIRE', KEYS[1], math.ceil(2 * period / 1000))
return limit - used
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
local h = redis.call('HMGET', KEYS[1], 't', 'l', 'q', 'f', 's')
local seen = now
if h[4] and h[4] ~= fp then
  local sr, sc = string.match(h[4], '^([^:]+):(.+)$')
  sr = tonumber(sr)
  sc = tonumber(sc)
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
if op == 'available' then return math.floor(tokens) end
if tokens <= 0 then return 0 end
local drained = math.floor(tokens)
tokens = tokens - drained
save(0)
return drained
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
local h = redis.call('HMGET', KEYS[2], 'c', 'f', 's')
local seen = now
if h[2] and h[2] ~= fp then
  local sw, sl = string.match(h[2], '^([^:]+):(.+)$')
  sw = tonumber(sw)
  if ARGV[3] ~= '1' and now - tonumber(h[3]) <= sw then
    conflict = true
    window, limit, fp = sw, tonumber(sl), h[2]
    seen = tonumber(h[3])
  end
end
local c = tonumber(h[1]) or 0
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window))
-- The running total before the entry at a rank, and the entry's time.
local function at(rank)
  local e = redis.call('ZRANGE', KEYS[1], rank, rank, 'WITHSCORES')
  if #e == 0 then return nil end
  local cum, w = string.match(e[1], '^(%d+):(%d+)$')
  return tonumber(cum) - tonumber(w), tonumber(e[2]), tonumber(cum)
end
local function liveFrom(rank)
  local before = at(rank)
  if before == nil then return 0 end
  return c - before
end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local lastTime = -1
if #newest > 0 then lastTime = tonumber(newest[2]) end
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
if permits > limit then return answer(-1) end
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
if wait > tonumber(ARGV[5]) * 1000 then return answer(-2 - wait) end
push(time, permits)
return answer(wait)
`
}

export const scripts: ReadonlyArray<Script> = [fixedWindow, tokenBucket, slidingWindow]
