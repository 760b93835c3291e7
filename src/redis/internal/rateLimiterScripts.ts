/**
 * The rate limiter's Lua scripts, one per algorithm. Each decides one request atomically in Redis with
 * Redis's own clock (`TIME`, in milliseconds with microsecond fractions), so a call is one round trip
 * (EVALSHA; ioredis loads a script on its first NOSCRIPT) and process clocks play no part.
 *
 * Every script takes an operation first: `acquire <permits> <maxWaitMillis>` answers `{granted, millis}`
 * (the wait when granted, the wait that would have been needed when not; `-1`: never), `available` and
 * `drain` answer a count. The settings follow the operation's own arguments (they travel with each call).
 * Numbers go back as strings: Redis would truncate a Lua number reply to an integer. Every write renews
 * the keys' PEXPIRE to a little more than the time the state takes to be forgotten, so an abandoned
 * limiter's keys vanish.
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
local function num(x)
  if x == math.floor(x) and x > -1e14 and x < 1e14 then return tostring(x) end
  return string.format('%.17g', x)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local op = ARGV[1]
`

/**
 * Fixed window (Resilience4j's reservation semantics) on epoch-aligned cycles. The key holds
 * `period:cycle:used`: the period the cycles are counted in (a call with another period starts afresh),
 * the latest cycle holding grants or reservations (the frontier) and its permits used (a string rather
 * than a hash: one write sets value and expiry). A request is granted in the
 * frontier if it fits there, else in the next cycle — never in a cycle before the frontier, so nobody
 * overtakes a waiting reservation — if that cycle starts within `maxWait`.
 * ARGV after the operation: limit, period (ms), then the operation's arguments.
 */
export const fixedWindow: Script = {
  command: "breakwaterFixedWindow",
  numberOfKeys: 1,
  lua: prelude + `
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local cur = math.floor(now / period)
local frontier = nil
local used = 0
local state = redis.call('GET', KEYS[1])
if state then
  local p, k, u = string.match(state, '^([^:]+):([^:]+):(.+)$')
  -- Cycles of another period do not compare: a new period starts afresh.
  if tonumber(p) == period then
    frontier = tonumber(k)
    used = tonumber(u)
  end
end
if frontier == nil or frontier < cur then
  frontier = cur
  used = 0
end
local function save(k, u)
  redis.call('SET', KEYS[1], num(period) .. ':' .. num(k) .. ':' .. num(u), 'PX', math.ceil((k - cur + 2) * period))
end
if op == 'available' then
  if frontier == cur then return num(limit - used) end
  return num(-(used + (frontier - cur - 1) * limit))
end
if op == 'drain' then
  if frontier > cur or used >= limit then return '0' end
  save(cur, limit)
  return num(limit - used)
end
local permits = tonumber(ARGV[4])
local maxWait = tonumber(ARGV[5])
if permits > limit then return {0, '-1'} end
local k = frontier
if limit - used < permits then
  k = frontier + 1
  used = 0
end
local wait = k * period - now
if wait < 0 then wait = 0 end
if wait > maxWait then return {0, num(wait)} end
save(k, used + permits)
return {1, num(wait)}
`
}

/**
 * Token bucket: `capacity` tokens refilled continuously at `rate` per millisecond. Tokens may go negative
 * (reservations waiting for tokens not refilled yet); `queue` is the latest reserved time, before which
 * no newcomer is served. The key holds `tokens:last:queue`. ARGV after the operation: rate (tokens/ms), capacity, then the operation's.
 */
export const tokenBucket: Script = {
  command: "breakwaterTokenBucket",
  numberOfKeys: 1,
  lua: prelude + `
local rate = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local tokens = nil
local last = nil
local queue = nil
local state = redis.call('GET', KEYS[1])
if state then
  local a, b, c = string.match(state, '^([^:]+):([^:]+):(.+)$')
  tokens = tonumber(a)
  last = tonumber(b)
  queue = tonumber(c)
end
if tokens == nil then
  tokens = capacity
  last = now
  queue = 0
end
if now > last then
  tokens = tokens + (now - last) * rate
  last = now
end
if tokens > capacity then tokens = capacity end
local function save(wait)
  local refill = 0
  if rate > 0 then refill = (capacity - tokens) / rate end
  local ttl = math.ceil(math.max(wait, refill) + 1 / rate) + 1000
  redis.call('SET', KEYS[1], num(tokens) .. ':' .. num(last) .. ':' .. num(queue), 'PX', ttl)
end
if op == 'available' then return num(math.floor(tokens)) end
if op == 'drain' then
  if tokens <= 0 then return '0' end
  local drained = math.floor(tokens)
  tokens = tokens - drained
  save(0)
  return num(drained)
end
local permits = tonumber(ARGV[4])
local maxWait = tonumber(ARGV[5])
local at = math.max(now, queue)
if tokens < permits then
  if permits > capacity or rate <= 0 then return {0, '-1'} end
  at = math.max(at, now + (permits - tokens) / rate)
end
local wait = at - now
if wait > maxWait then return {0, num(wait)} end
tokens = tokens - permits
if at > queue then queue = at end
save(wait)
return {1, num(wait)}
`
}

/**
 * Sliding window, exact: a sorted set of grants scored by the time their holder runs (member
 * `sequence:permits`), and a hash with the set's total permits and the sequence. Grants leave the set once
 * older than the window. A request runs at the earliest time, not before the newest grant (arrival
 * order), at which it fits in the window. Memory: at most one entry per grant in the window.
 * KEYS: the set, the hash. ARGV after the operation: window (ms), limit, then the operation's.
 */
export const slidingWindow: Script = {
  command: "breakwaterSlidingWindow",
  numberOfKeys: 2,
  lua: prelude + `
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local function weight(member) return tonumber(string.match(member, ':(%d+)$')) end
local total = tonumber(redis.call('HGET', KEYS[2], 'total')) or 0
local horizon = now - window
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', num(horizon))
if #old > 0 then
  for i = 1, #old do total = total - weight(old[i]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(horizon))
  redis.call('HSET', KEYS[2], 'total', total)
end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local lastTime = -math.huge
if #newest > 0 then lastTime = tonumber(newest[2]) end
local function push(at, permits)
  local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
  redis.call('ZADD', KEYS[1], num(at), seq .. ':' .. permits)
  total = total + permits
  redis.call('HSET', KEYS[2], 'total', total)
  local ttl = math.ceil(at - now + 2 * window)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
if op == 'available' then return num(limit - total) end
if op == 'drain' then
  local free = limit - total
  if free <= 0 then return '0' end
  push(math.max(now, lastTime), free)
  return num(free)
end
local permits = tonumber(ARGV[4])
local maxWait = tonumber(ARGV[5])
if permits > limit then return {0, '-1'} end
local at = now
if total + permits > limit or lastTime > now then
  -- Wait for the oldest grants to leave the window until the request fits.
  local start = math.max(now, lastTime)
  local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  local live = total
  local i = 1
  while i < #entries and tonumber(entries[i + 1]) <= start - window do
    live = live - weight(entries[i])
    i = i + 2
  end
  at = start
  while live + permits > limit and i < #entries do
    at = tonumber(entries[i + 1]) + window
    live = live - weight(entries[i])
    i = i + 2
  end
end
local wait = at - now
if wait > maxWait then return {0, num(wait)} end
push(at, permits)
return {1, num(wait)}
`
}

export const scripts: ReadonlyArray<Script> = [fixedWindow, tokenBucket, slidingWindow]
