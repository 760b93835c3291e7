/**
 * The Redis section's case names (bench/scenarios/redis.ts), importable without its measuring code: the
 * target builds (bench/targets/redisCases.ts) name their subjects with them, the report finds rows by them.
 */
export const RedisCases = {
  sequential: "breakwater RedisStore fixed-window, sequential",
  concurrent: "breakwater RedisStore fixed-window, concurrent",
  tokenBucket: "breakwater RedisStore token-bucket, concurrent",
  slidingWindow: "breakwater RedisStore sliding-window, concurrent",
  flexibleSequential: "rate-limiter-flexible RateLimiterRedis, sequential",
  flexibleConcurrent: "rate-limiter-flexible RateLimiterRedis, concurrent"
} as const

export const RedisBreakerCases = {
  closed: "shared breaker Closed, successful call, sequential",
  closedConcurrent: "shared breaker Closed, successful call, concurrent",
  refusal: "shared breaker Open, refusal, sequential",
  halfOpen: "shared breaker HalfOpen, trial call (lease + record), sequential",
  renew: "lease renewal (CircuitBreakerStore.renew), sequential",
  reread: "re-read of the shared state (CircuitBreakerStore.read), sequential"
} as const
