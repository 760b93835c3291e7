/**
 * The Lua script behind the Redis circuit breaker store: one script, one round trip per operation
 * (`read`, `acquire`, `renew`, `record`, `transition`, `reset`), run atomically by Redis with Redis's clock.
 *
 * Keys (all under `prefix:circuit:{<name>}:`, every one given the settings' TTL on each operation; the
 * hash tag puts them in one Redis Cluster slot):
 * - `state` (hash): state, generation, attempts, open-until, half-open-until, running window totals, the
 *   incarnation (Redis time when the state was created) and the settings in force (`fp`, with `fpAt`, the
 *   last time a caller with those settings used it).
 * - `window`: COUNT_BASED — a list of the last `slidingWindowSize` outcomes (`flags:duration`), exact;
 *   TIME_BASED — a hash of per-second buckets (`c|f|s|x|d` + epoch second: calls, failed, slow, slow and
 *   failed, summed durations), the one-second buckets of Resilience4j's `SlidingTimeWindowMetrics`, by
 *   Redis's clock: the window holds the calls of the last `slidingWindowSize` whole seconds.
 * - `leases` (sorted set): half-open trial permits scored by expiry; expired ones are purged first.
 * Changes are published as JSON to the channel `prefix:circuit:<name>`.
 *
 * @internal
 */

/**
 * The script's text. KEYS: state, window, leases, log. ARGV: operation, `<PUBLISH|SPUBLISH> <channel>`
 * (how and where to publish its hints: `SPUBLISH` on a Redis Cluster, falling back to `PUBLISH` on a
 * server without sharded pub/sub), the 13 settings (see
 * `settingsArguments`), whether the caller takes over with its settings, then the operation's arguments. Returns the snapshot's fields, the changes as
 * JSON (empty when none), the admission, whether a manual transition was permitted, the incarnation and
 * whether the caller's settings conflict with the stored ones, as strings;
 * publishes `{ snapshot, changes }` as JSON when something changed.
 *
 * @internal
 */
export const circuitScript = {
  name: "breakwaterCircuit",
  numberOfKeys: 4,
  lua: `
local op = ARGV[1]
local publisher, channel = string.match(ARGV[2], '^(S?PUBLISH) (.*)$')
local sk, wk, lk, logk = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Everything read from Redis is checked before use: anyone who can write to this Redis can leave any
-- value under these keys. State that does not parse is LOST state (deleted, a new incarnation, reported
-- in the reply's last field), never used, and never given a new TTL.
local MAX_INT = 9007199254740992
local function isInt(v, min) local x = tonumber(v) return x ~= nil and x == math.floor(x) and x >= min and x < MAX_INT end
local function isNum(v, min) local x = tonumber(v) return x ~= nil and x == x and x >= min and x < math.huge end
local STATES = { Closed = true, Open = true, HalfOpen = true, Disabled = true, ForcedOpen = true, MetricsOnly = true }
local WINDOWS = { COUNT_BASED = 'list', TIME_BASED = 'hash' }
local function typeOf(key) return redis.call('TYPE', key).ok end
-- The 12 settings of a fingerprint (ARGV[3..14]), each checked, or nil.
local function parseFingerprint(fp)
  if type(fp) ~= 'string' or #fp > 512 then return nil end
  local p = {}
  for part in string.gmatch(fp .. '|', '([^|]*)|') do p[#p + 1] = part end
  if #p ~= 12 then return nil end
  if not (isNum(p[1], 0) and isNum(p[2], 0) and isNum(p[3], 0) and WINDOWS[p[4]] and isInt(p[5], 1)
    and isInt(p[6], 1) and isInt(p[7], 1) and (p[8] == '0' or p[8] == '1') and isNum(p[9], 0)
    and (p[10] == 'Open' or p[10] == 'Closed') and isInt(p[11], 1) and isInt(p[12], 1)) then return nil end
  return p
end
local nowMicros = tonumber(t[1]) * 1000000 + tonumber(t[2])
-- Why the stored state was not usable ('' when it was).
local lost = ''
local function checkState(s)
  if not STATES[s.state] then return 'state' end
  for _, f in ipairs({ 'gen', 'attempts', 'np', 'seq', 'calls', 'failed', 'slow', 'slowFailed', 'fpAt' }) do
    if not isInt(s[f], 0) then return f end
  end
  for _, f in ipairs({ 'openUntil', 'halfOpenUntil', 'head' }) do
    if not isInt(s[f], -1) then return f end
  end
  if not isNum(s.dur, 0) then return 'dur' end
  if not WINDOWS[s.wtype] then return 'wtype' end
  if not isInt(s.wsize, 1) then return 'wsize' end
  if (s.frr ~= '0' and s.frr ~= '1') or (s.srr ~= '0' and s.srr ~= '1') then return 'frr' end
  local calls = tonumber(s.calls)
  if tonumber(s.failed) > calls or tonumber(s.slow) > calls or tonumber(s.slowFailed) > math.min(tonumber(s.failed), tonumber(s.slow)) then
    return 'calls'
  end
  if type(s.inc) ~= 'string' or not string.match(s.inc, '^%d+$') or #s.inc > 16 or tonumber(s.inc) > nowMicros then return 'inc' end
  if tonumber(s.fpAt) > now then return 'fpAt' end
  if parseFingerprint(s.fp) == nil then return 'fp' end
  local wt = typeOf(wk)
  if wt ~= 'none' and wt ~= WINDOWS[s.wtype] then return 'window type' end
  if s.state == 'HalfOpen' then
    -- Leases are read only in HalfOpen (entering any state deletes them).
    local lt = typeOf(lk)
    if lt ~= 'none' and lt ~= 'zset' then return 'leases type' end
  end
  return nil
end

local s = {}
local raw = redis.pcall('HGETALL', sk)
if raw.err then
  lost = 'wrong type'
  raw = {}
else
  for i = 1, #raw, 2 do s[raw[i]] = raw[i + 1] end
  if #raw > 0 then
    local bad = checkState(s)
    if bad then
      lost = 'invalid ' .. bad
      raw = {}
      s = {}
    end
  end
end
if lost ~= '' then redis.call('DEL', sk, wk, lk, logk) end
-- A missing hash field reads as false (not nil) in Redis Lua.
local function num(v, d) if not v then return d end return tonumber(v) end
-- No state: a first use, or the state was lost (TTL, a restart without persistence, a failover, FLUSHDB,
-- or a value that did not parse). Its incarnation (Redis time at creation, in microseconds: unique, as no
-- two scripts run in the same microsecond) tells instances that generation numbers started over.
local fresh = #raw == 0
-- The log of a lost state's changes would read as the new one's (sequences start over).
if fresh then redis.call('DEL', logk) end
local incarnation = s.inc or (t[1] .. string.format('%06d', tonumber(t[2])))

-- The settings a breaker sends are its fingerprint. While instances with another fingerprint keep using
-- the shared state (a rolling deploy), the stored settings win and the caller is told of the conflict;
-- the caller's take over once nobody has used the stored ones for HANDOVER_MILLIS, or at once when the
-- caller was just reconfigured (ARGV[16] = '1': an explicit change for the whole fleet).
local HANDOVER_MILLIS = 30000
-- The waits in Open are left out: a jittered Schedule gives every instance its own, and the caller whose
-- call opens the circuit sets the wait either way.
local fingerprint = table.concat(ARGV, '|', 3, 14)
local v = {}
for i = 3, 15 do v[i] = ARGV[i] end
local conflict = false
if s.fp and s.fp ~= fingerprint and ARGV[16] ~= '1' and now - num(s.fpAt, 0) < HANDOVER_MILLIS then
  conflict = true
  local stored = parseFingerprint(s.fp)
  for i = 1, 12 do v[i + 2] = stored[i] end
end
local waits = {}
for w in string.gmatch(v[15], '[^,]+') do waits[#waits + 1] = tonumber(w) end
local cfg = {
  failureRateThreshold = tonumber(v[3]),
  slowCallRateThreshold = tonumber(v[4]),
  slowCallDurationThresholdMillis = tonumber(v[5]),
  slidingWindowType = v[6],
  slidingWindowSize = tonumber(v[7]),
  minimumNumberOfCalls = tonumber(v[8]),
  permittedNumberOfCallsInHalfOpenState = tonumber(v[9]),
  automaticTransitionFromOpenToHalfOpenEnabled = v[10] == '1',
  maxWaitInHalfOpenMillis = tonumber(v[11]),
  transitionToStateAfterWaitDuration = v[12],
  leaseMillis = tonumber(v[13]),
  ttlMillis = tonumber(v[14]),
  waitsInOpenMillis = waits
}
local arg = {}
if op == 'acquire' or op == 'renew' then
  arg.leaseId = ARGV[17]
elseif op == 'record' then
  arg.generation = tonumber(ARGV[17])
  arg.durationMillis = tonumber(ARGV[18])
  arg.outcome = ARGV[19]
  if ARGV[20] ~= '' then arg.leaseId = ARGV[20] end
  arg.incarnation = ARGV[21]
elseif op == 'read' then
  arg.sinceIncarnation = ARGV[17]
  arg.since = tonumber(ARGV[18])
elseif op == 'transition' then
  arg.to = ARGV[17]
  if ARGV[18] ~= '' then arg.openForMillis = tonumber(ARGV[18]) end
end

local state = s.state or 'Closed'
local gen = num(s.gen, 0)
local startGen = gen
local attempts = num(s.attempts, 0)
local openUntil = num(s.openUntil, -1)
local halfOpenUntil = num(s.halfOpenUntil, -1)
local calls, failed, slow, slowFailed, dur = num(s.calls, 0), num(s.failed, 0), num(s.slow, 0), num(s.slowFailed, 0), num(s.dur, 0)
local wtype = s.wtype
local wsize = num(s.wsize, 0)
local head = num(s.head, -1)
local np = num(s.np, 0)
local seq = num(s.seq, 0)
local frReported = s.frr == '1'
local srReported = s.srr == '1'
local changes = {}

local function clearWindow(kind, size)
  redis.call('DEL', wk)
  calls, failed, slow, slowFailed, dur = 0, 0, 0, 0, 0
  head = -1
  wtype, wsize = kind, size
end

-- A Closed (or MetricsOnly) window whose type or size differs from the settings in force is replaced.
if (state == 'Closed' or state == 'MetricsOnly' or wtype == nil) and (wtype ~= cfg.slidingWindowType or wsize ~= cfg.slidingWindowSize) then
  if state ~= 'HalfOpen' then clearWindow(cfg.slidingWindowType, cfg.slidingWindowSize) end
end

local function windowMin()
  if state == 'HalfOpen' then return math.min(cfg.minimumNumberOfCalls, cfg.permittedNumberOfCallsInHalfOpenState) end
  if wtype == 'COUNT_BASED' then return math.min(cfg.minimumNumberOfCalls, wsize) end
  return cfg.minimumNumberOfCalls
end

-- A window whose content does not parse (a bucket or an entry someone else wrote) is lost: emptied,
-- and reported like lost state.
local function windowLost(why)
  if lost == '' then lost = 'invalid window ' .. why end
  clearWindow(wtype, wsize)
end

local function dropBucket(sec)
  local k = tostring(sec)
  local b = redis.call('HMGET', wk, 'c' .. k, 'f' .. k, 's' .. k, 'x' .. k, 'd' .. k)
  if b[1] then
    for i = 1, 5 do
      if b[i] and not isNum(b[i], 0) then return windowLost('bucket') end
    end
    calls = calls - num(b[1], 0)
    failed = failed - num(b[2], 0)
    slow = slow - num(b[3], 0)
    slowFailed = slowFailed - num(b[4], 0)
    dur = dur - num(b[5], 0)
    redis.call('HDEL', wk, 'c' .. k, 'f' .. k, 's' .. k, 'x' .. k, 'd' .. k)
  end
end

-- Buckets are keyed by epoch second. Rolling costs the smaller of the seconds passed and the buckets
-- held, so a long, mostly idle window cannot make one call loop over its whole size.
local function roll()
  if wtype ~= 'TIME_BASED' then return end
  local sec = math.floor(now / 1000)
  if head < 0 then head = sec return end
  local passed = sec - head
  if passed <= 0 then return end
  if passed >= wsize then
    clearWindow(wtype, wsize)
    head = sec
    return
  end
  if passed <= 16 or passed * 5 <= redis.call('HLEN', wk) then
    for old = head - wsize + 1, sec - wsize do dropBucket(old) end
  else
    local fields = redis.call('HKEYS', wk)
    for i = 1, #fields do
      local field = fields[i]
      if string.sub(field, 1, 1) == 'c' then
        local old = tonumber(string.sub(field, 2))
        if old == nil then windowLost('bucket') break end
        if old <= sec - wsize then dropBucket(old) end
      end
    end
  end
  head = sec
  if calls < 0 or failed < 0 or slow < 0 or slowFailed < 0 or dur < 0 or failed > calls or slow > calls then
    windowLost('totals')
    head = sec
  end
end

local function push(d, isFailed, isSlow)
  local f = isFailed and 1 or 0
  local sl = isSlow and 1 or 0
  local x = (isFailed and isSlow) and 1 or 0
  if wtype == 'COUNT_BASED' then
    calls = calls + 1
    -- The list must hold exactly the counted calls; anything else was written by someone else.
    if redis.call('RPUSH', wk, (f + 2 * sl) .. ':' .. d) ~= calls then
      windowLost('length')
      redis.call('RPUSH', wk, (f + 2 * sl) .. ':' .. d)
      calls = 1
    end
    if calls > wsize then
      local evicted = redis.call('LPOP', wk)
      local flags = tonumber(string.sub(evicted, 1, 1))
      local ed = tonumber(string.sub(evicted, 3))
      if string.sub(evicted, 2, 2) ~= ':' or flags == nil or flags > 3 or flags ~= math.floor(flags) or not isNum(ed, 0) then
        windowLost('entry')
        redis.call('RPUSH', wk, (f + 2 * sl) .. ':' .. d)
        calls = 1
      else
        local ef = flags % 2
        local es = math.floor(flags / 2)
        calls = calls - 1
        failed = failed - ef
        slow = slow - es
        if flags == 3 then slowFailed = slowFailed - 1 end
        dur = dur - ed
      end
    end
  else
    roll()
    local slot = tostring(math.floor(now / 1000))
    -- A bucket field holding a non-number makes HINCRBY fail: that window is lost.
    local function bump(call)
      local bad = false
      local function inc(command, field, by)
        local r = call(command, wk, field .. slot, by)
        if type(r) == 'table' and r.err then bad = true end
      end
      inc('HINCRBY', 'c', 1)
      if f == 1 then inc('HINCRBY', 'f', 1) end
      if sl == 1 then inc('HINCRBY', 's', 1) end
      if x == 1 then inc('HINCRBY', 'x', 1) end
      inc('HINCRBYFLOAT', 'd', d)
      return bad
    end
    if bump(redis.pcall) then
      windowLost('bucket')
      bump(redis.call)
    end
    calls = calls + 1
  end
  failed = failed + f
  slow = slow + sl
  slowFailed = slowFailed + x
  dur = dur + d
end

local function waitFor(n)
  local w = cfg.waitsInOpenMillis
  return w[math.min(n, #w)]
end

local function note(change)
  seq = seq + 1
  change.sequence = seq
  changes[#changes + 1] = change
end

local function enter(to, openFor)
  local from = state
  state = to
  gen = gen + 1
  frReported, srReported = false, false
  halfOpenUntil = -1
  if to == 'Open' then
    attempts = attempts + 1
    openUntil = now + (openFor or waitFor(attempts))
  elseif to == 'HalfOpen' then
    clearWindow('COUNT_BASED', cfg.permittedNumberOfCallsInHalfOpenState)
    np = 0
    if cfg.maxWaitInHalfOpenMillis > 0 then halfOpenUntil = now + cfg.maxWaitInHalfOpenMillis end
  else
    clearWindow(cfg.slidingWindowType, cfg.slidingWindowSize)
    np = 0
    if to == 'ForcedOpen' then attempts = attempts + 1 else attempts = 0 end
  end
  redis.call('DEL', lk)
  if from ~= to then note({ _tag = 'Transition', from = from, to = to }) end
end

local function advance()
  if state == 'Open' and cfg.automaticTransitionFromOpenToHalfOpenEnabled and now >= openUntil then enter('HalfOpen') end
  if state == 'HalfOpen' and halfOpenUntil >= 0 and now >= halfOpenUntil then enter(cfg.transitionToStateAfterWaitDuration) end
end

local function checkThresholds()
  if calls < windowMin() or calls == 0 then return end
  local fr = failed * 100 / calls
  local sr = slow * 100 / calls
  local fx = fr >= cfg.failureRateThreshold
  local sx = sr >= cfg.slowCallRateThreshold
  if state == 'Closed' then
    if fx or sx then
      if fx then note({ _tag = 'FailureRateExceeded', rate = fr }) end
      if sx then note({ _tag = 'SlowCallRateExceeded', rate = sr }) end
      enter('Open')
    end
  elseif state == 'HalfOpen' then
    if fx or sx then enter('Open') else enter('Closed') end
  elseif state == 'MetricsOnly' then
    if fx and not frReported then note({ _tag = 'FailureRateExceeded', rate = fr }) frReported = true end
    if sx and not srReported then note({ _tag = 'SlowCallRateExceeded', rate = sr }) srReported = true end
  end
end

local function leased()
  redis.call('ZREMRANGEBYSCORE', lk, '-inf', now)
  return redis.call('ZCARD', lk)
end

advance()
roll()
local extra = {}
if op == 'acquire' then
  local admission = 'Permitted'
  if state == 'ForcedOpen' then
    admission = 'Refused'
    np = np + 1
  elseif state == 'Open' then
    if now >= openUntil then enter('HalfOpen') else admission = 'Refused' np = np + 1 end
  end
  if state == 'HalfOpen' then
    if leased() + calls < cfg.permittedNumberOfCallsInHalfOpenState then
      redis.call('ZADD', lk, now + cfg.leaseMillis, arg.leaseId)
      admission = 'Trial'
    else
      admission = 'Refused'
      np = np + 1
    end
  end
  extra.admission = admission
elseif op == 'record' then
  if arg.leaseId then redis.call('ZREM', lk, arg.leaseId) end
  -- A trial slower than its lease still counts in its own HalfOpen period (the lease only frees the
  -- permit of a holder that died). A call admitted before the state was lost counts in the fresh state.
  local live = (fresh and state == 'Closed') or ((arg.incarnation == '' or arg.incarnation == incarnation) and arg.generation == gen and
    (state == 'Closed' or state == 'MetricsOnly' or (state == 'HalfOpen' and arg.leaseId ~= nil)))
  if live and arg.outcome ~= 'Ignored' then
    push(arg.durationMillis, arg.outcome == 'Failure', arg.durationMillis > cfg.slowCallDurationThresholdMillis)
    checkThresholds()
  end
elseif op == 'transition' then
  local to = arg.to
  local legal = not ((state == 'Closed' and to == 'HalfOpen') or (state == 'MetricsOnly' and (to == 'Open' or to == 'HalfOpen')))
  extra.permitted = legal
  if legal and (state ~= to or (to == 'Open' and arg.openForMillis)) then enter(to, arg.openForMillis) end
elseif op == 'renew' then
  -- A trial still running keeps its permit (an expired and purged one is not given back).
  if state == 'HalfOpen' and redis.call('ZSCORE', lk, arg.leaseId) then
    redis.call('ZADD', lk, now + cfg.leaseMillis, arg.leaseId)
  end
elseif op == 'reset' then
  if state ~= 'Closed' then enter('Closed') else
    gen = gen + 1
    clearWindow(cfg.slidingWindowType, cfg.slidingWindowSize)
    np = 0
    redis.call('DEL', lk)
  end
  attempts = 0
  note({ _tag = 'Reset' })
end

local leases = 0
if state == 'HalfOpen' then leases = redis.call('ZCARD', lk) end
local openFor = -1
if state == 'Open' then openFor = math.max(0, openUntil - now) end
local halfOpenFor = -1
if state == 'HalfOpen' and halfOpenUntil >= 0 then halfOpenFor = math.max(0, halfOpenUntil - now) end

redis.call('HSET', sk, 'state', state, 'gen', gen, 'attempts', attempts, 'openUntil', openUntil,
  'halfOpenUntil', halfOpenUntil, 'calls', calls, 'failed', failed, 'slow', slow, 'slowFailed', slowFailed,
  'dur', tostring(dur), 'wtype', wtype, 'wsize', wsize, 'head', head, 'np', np, 'seq', seq,
  'frr', frReported and '1' or '0', 'srr', srReported and '1' or '0', 'inc', incarnation,
  'fp', conflict and s.fp or fingerprint, 'fpAt', conflict and s.fpAt or now)
redis.call('PEXPIRE', sk, cfg.ttlMillis)
redis.call('PEXPIRE', wk, cfg.ttlMillis)
redis.call('PEXPIRE', lk, cfg.ttlMillis)

-- The last changes, kept for readers following them (a published message is only a hint to read).
local LOG_SIZE = 32
local function logUsable()
  local lt = typeOf(logk)
  if lt == 'list' or lt == 'none' then return true end
  redis.call('DEL', logk)
  return false
end
local published = ''
if #changes > 0 then
  published = cjson.encode(changes)
  logUsable()
  for i = 1, #changes do redis.call('RPUSH', logk, cjson.encode(changes[i])) end
  redis.call('LTRIM', logk, -LOG_SIZE, -1)
  redis.call('PEXPIRE', logk, cfg.ttlMillis)
end
-- A reader following the changes gets those after the sequence it has seen (checked by the reader).
local logged = ''
if op == 'read' and arg.sinceIncarnation == incarnation and arg.since and arg.since < seq and logUsable() then
  local entries = redis.call('LRANGE', logk, -math.min(seq - arg.since, LOG_SIZE), -1)
  if #entries > 0 then logged = '[' .. table.concat(entries, ',') .. ']' end
end
-- A new Open period (Open -> Open with a new wait) is no transition, but every instance needs its end.
-- The message is a hint: receivers read the state from the keys, never from it.
if #changes > 0 or gen ~= startGen or lost ~= '' then
  -- The channel is in the keys' slot (same hash tag), so a cluster node may SPUBLISH it from here.
  if publisher ~= 'SPUBLISH' or type(redis.pcall('SPUBLISH', channel, tostring(seq))) == 'table' then
    redis.call('PUBLISH', channel, tostring(seq))
  end
end
local permitted = ''
if extra.permitted ~= nil then permitted = extra.permitted and '1' or '0' end
-- A flat array of strings: cheaper than JSON, and Redis would truncate Lua numbers to integers.
return { state, tostring(gen), tostring(attempts), tostring(openFor), tostring(halfOpenFor), tostring(calls),
  tostring(failed), tostring(slow), tostring(slowFailed), tostring(dur), tostring(windowMin()), tostring(leases),
  tostring(np), tostring(seq), published, extra.admission or '', permitted, incarnation, conflict and '1' or '', lost, logged }
`
} as const
