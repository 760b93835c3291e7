/**
 * The rate limiter's Lua scripts, one per algorithm. Each decides one request atomically in Redis with
 * Redis's own clock (`TIME`), so a call is one round trip (EVALSHA; ioredis loads a script on its first
 * NOSCRIPT) and process clocks play no part.
 *
 * Every script takes an operation first: `acquire <permits> <maxWaitMillis>` answers one integer (a
 * table reply costs Redis measurably more): `w >= 0` granted, to be used after `w` microseconds; `-1`
 * refused, never grantable; `w <= -2` refused, grantable after `-w - 2` microseconds. `available` and
 * `drain` answer a count. The settings follow the operation (they travel with each call). Inside, time
 * is whole microseconds since the epoch (exact in a double), so replies are integers (Redis would
 * truncate a fractional Lua number) and waits are rounded up: never granted early. Every write renews
 * the key's expiry to a little more than the time the state takes to be forgotten, so an abandoned
 * limiter's keys vanish. The scripts are kept lean: their cost in Redis is the store's throughput.
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
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local op = ARGV[1]
`

/**
 * Fixed window (Resilience4j's reservation semantics) on epoch-aligned cycles. The key (which names the
 * period, so a new period starts afresh) holds `cycle:used`: the latest cycle holding grants or
 * reservations (the frontier) and its permits used. A request is granted in the frontier if it fits
 * there, else in the next cycle — never in a cycle before the frontier, so nobody overtakes a waiting
 * reservation — if that cycle starts within `maxWait`.
 * ARGV after the operation: limit, period (ms), then the operation's arguments.
 */
export const fixedWindow: Script = {
  command: "breakwaterFixedWindow",
  numberOfKeys: 1,
  lua: prelude + `
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3]) * 1000
local cur = math.floor(now / period)
local frontier = cur
local used = 0
local stored = -1
local state = redis.call('GET', KEYS[1])
if state then
  local k, u = string.match(state, '^(%d+):(%d+)$')
  k = tonumber(k)
  if k and k >= cur then
    frontier = k
    used = tonumber(u)
    stored = k
  end
end
if op == 'acquire' then
  local permits = tonumber(ARGV[4])
  if permits > limit then return -1 end
  local k = frontier
  if limit - used < permits then
    k = frontier + 1
    used = 0
  end
  local wait = math.ceil(k * period - now)
  if wait < 0 then wait = 0 end
  if wait > tonumber(ARGV[5]) * 1000 then return -2 - wait end
  local value = string.format('%d:%d', k, used + permits)
  if k == stored then
    -- Set when cycle k became the frontier, the expiry already outlasts it by a period (and a SET
    -- keeping it costs Redis measurably less than one setting it).
    redis.call('SET', KEYS[1], value, 'KEEPTTL')
  else
    redis.call('SET', KEYS[1], value, 'PX', math.ceil((k - cur + 2) * period / 1000))
  end
  return wait
end
if op == 'available' then
  if frontier == cur then return limit - used end
  return -(used + (frontier - cur - 1) * limit)
end
if frontier > cur or used >= limit then return 0 end
redis.call('SET', KEYS[1], string.format('%d:%d', cur, limit), 'PX', math.ceil(2 * period / 1000))
return limit - used
`
}

/**
 * Token bucket: `capacity` tokens refilled continuously at `rate` per millisecond. Tokens may go negative
 * (reservations waiting for tokens not refilled yet); `queue` is the latest reserved time, before which
 * no newcomer is served. The key holds `tokens:last:queue` (times in microseconds).
 * ARGV after the operation: rate (tokens/ms), capacity, then the operation's arguments.
 */
export const tokenBucket: Script = {
  command: "breakwaterTokenBucket",
  numberOfKeys: 1,
  lua: prelude + `
local rate = tonumber(ARGV[2]) / 1000
local capacity = tonumber(ARGV[3])
local tokens = capacity
local queue = 0
local state = redis.call('GET', KEYS[1])
if state then
  local a, b, c = string.match(state, '^([^:]+):(%d+):(%d+)$')
  local last = tonumber(b)
  if last then
    tokens = tonumber(a)
    queue = tonumber(c)
    if now > last then tokens = tokens + (now - last) * rate end
    if tokens > capacity then tokens = capacity end
  end
end
local function save(wait)
  local ttl = math.ceil((math.max(wait, (capacity - tokens) / rate) + 1 / rate) / 1000) + 1000
  redis.call('SET', KEYS[1], string.format('%.17g:%d:%d', tokens, now, queue), 'PX', ttl)
end
if op == 'acquire' then
  local permits = tonumber(ARGV[4])
  local at = now
  if queue > at then at = queue end
  if tokens < permits then
    if permits > capacity then return -1 end
    at = math.max(at, now + math.ceil((permits - tokens) / rate))
  end
  local wait = at - now
  if wait > tonumber(ARGV[5]) * 1000 then return -2 - wait end
  tokens = tokens - permits
  if at > queue then queue = at end
  save(wait)
  return wait
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
 * Sliding window, exact: a sorted set of grants scored by the time (microseconds) their holder runs
 * (member `sequence:permits`), and a hash with the set's total permits and the sequence. Grants leave
 * the set once older than the window. A request runs at the earliest time, not before the newest grant
 * (arrival order), at which it fits in the window. Memory: at most one entry per grant in the window.
 * KEYS: the set, the hash. ARGV after the operation: window (ms), limit, then the operation's arguments.
 */
export const slidingWindow: Script = {
  command: "breakwaterSlidingWindow",
  numberOfKeys: 2,
  lua: prelude + `
local window = tonumber(ARGV[2]) * 1000
local limit = tonumber(ARGV[3])
local function weight(member) return tonumber(string.match(member, ':(%d+)$')) end
local total = tonumber(redis.call('HGET', KEYS[2], 'total')) or 0
local horizon = string.format('%d', math.floor(now - window))
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', horizon)
if #old > 0 then
  for i = 1, #old do total = total - weight(old[i]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', horizon)
  redis.call('HSET', KEYS[2], 'total', total)
end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local lastTime = -1
if #newest > 0 then lastTime = tonumber(newest[2]) end
local function push(at, permits)
  local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
  redis.call('ZADD', KEYS[1], string.format('%d', at), seq .. ':' .. permits)
  total = total + permits
  redis.call('HSET', KEYS[2], 'total', total)
  local ttl = math.ceil((at - now + 2 * window) / 1000)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
if op == 'available' then return limit - total end
if op == 'drain' then
  local free = limit - total
  if free <= 0 then return 0 end
  push(math.max(now, lastTime), free)
  return free
end
local permits = tonumber(ARGV[4])
if permits > limit then return -1 end
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
at = math.ceil(at)
local wait = at - now
if wait > tonumber(ARGV[5]) * 1000 then return -2 - wait end
push(at, permits)
return wait
`
}

export const scripts: ReadonlyArray<Script> = [fixedWindow, tokenBucket, slidingWindow]
