/**
 * The names of our cases that peers are compared with, in one place so a rename cannot break a ratio.
 */
export const Ours = {
  breakerCount: "breaker closed, count window, success",
  breakerTime: "breaker closed, time window, success",
  breakerFailure: "breaker closed, failure recorded",
  breakerOpen: "breaker open, refusal",
  fixedWindow: "rate limiter fixed-window, acquire and run",
  tokenBucket: "rate limiter token-bucket, acquire and run",
  slidingWindow: "rate limiter sliding-window, acquire and run",
  bulkhead: "bulkhead uncontended, success",
  bulkheadFull: "bulkhead saturated, refusal"
} as const
