/**
 * The scenario both runs share: a fixed offered rate, a dependency that is healthy, then answers with
 * errors, then hangs, then recovers, and the guards of "my server" in each mode. Pure values: the
 * live run and the virtual-time simulation read the same numbers.
 */

/** Unprotected: naive retries at both layers. Protected: breaker + rate limiter + retry budget + bulkhead. */
export type Mode = "unprotected" | "protected"

export const modes: ReadonlyArray<Mode> = ["unprotected", "protected"]

export interface Scenario {
  /** Seed of every random draw (latency jitter, arrival jitter). */
  readonly seed: number
  /** Length of one run, in millis. */
  readonly durationMillis: number
  /** Logical requests the clients start per second, whatever happens. */
  readonly rate: number
  /** Requests per second (over the last second) the dependency serves before it is overloaded. */
  readonly capacity: number
  /** When the dependency starts answering 500, starts hanging, and recovers (millis from the start). */
  readonly errorsAt: number
  readonly timeoutsAt: number
  readonly recoversAt: number
  /** Healthy answers take between these many millis. */
  readonly latencyMillis: readonly [number, number]
  /** How long a hanging answer takes (longer than any caller waits). */
  readonly hangMillis: number
  /** The clients' own retries: attempts per logical request, pause between them, time per attempt. */
  readonly clientAttempts: number
  readonly clientBackoffMillis: number
  readonly clientTimeoutMillis: number
}

export interface Overrides {
  readonly seed?: number | undefined
  readonly durationMillis?: number | undefined
  readonly rate?: number | undefined
}

/**
 * The scenario for a run of `durationMillis`: healthy for the first 20%, errors until 40%, hangs
 * until 55%, then recovered; the dependency's capacity is twice the offered rate, so a healthy system
 * has room to spare and only amplification can overload it.
 */
export const make = (overrides: Overrides = {}): Scenario => {
  const durationMillis = overrides.durationMillis ?? 18_000
  const rate = overrides.rate ?? 20
  return {
    seed: overrides.seed ?? 7,
    durationMillis,
    rate,
    capacity: rate * 2,
    errorsAt: Math.round(durationMillis * 0.2),
    timeoutsAt: Math.round(durationMillis * 0.4),
    recoversAt: Math.round(durationMillis * 0.55),
    latencyMillis: [5, 25],
    hangMillis: 3_000,
    clientAttempts: 3,
    clientBackoffMillis: 200,
    clientTimeoutMillis: 2_500
  }
}

export type Phase = "healthy" | "errors" | "timeouts" | "recovered"

export const phaseAt = (scenario: Scenario, elapsedMillis: number): Phase =>
  elapsedMillis < scenario.errorsAt
    ? "healthy"
    : elapsedMillis < scenario.timeoutsAt
    ? "errors"
    : elapsedMillis < scenario.recoversAt
    ? "timeouts"
    : "recovered"

/** Guard settings of "my server" in each mode (durations in millis); the unprotected one is what most code does by default. */
export const guardSettings = (scenario: Scenario, mode: Mode) =>
  mode === "unprotected"
    ? {
      circuitBreaker: false as const,
      rateLimiter: false as const,
      retry: { maxAttempts: 3, waitDuration: 50 },
      retryBudget: false as const,
      attemptTimeout: 1_000,
      totalTimeout: 10_000,
      bulkhead: undefined
    }
    : {
      circuitBreaker: {
        slidingWindowType: "COUNT_BASED" as const,
        slidingWindowSize: 20,
        minimumNumberOfCalls: 10,
        failureRateThreshold: 50,
        slowCallRateThreshold: 80,
        slowCallDurationThreshold: 400,
        waitDurationInOpenState: 2_000,
        permittedNumberOfCallsInHalfOpenState: 4
      },
      // A little under the dependency's capacity, in slices of 250 ms so that bursts are smoothed.
      rateLimiter: {
        limitForPeriod: Math.max(1, Math.floor((scenario.capacity * 0.9) / 4)),
        limitRefreshPeriod: 250,
        timeoutDuration: 0
      },
      retry: { maxAttempts: 3, waitDuration: 100 },
      retryBudget: { percentCanRetry: 0.1, minRetriesPerSecond: 1, ttl: 10_000 },
      attemptTimeout: 500,
      totalTimeout: 2_000,
      bulkhead: { maxConcurrentCalls: 12, maxWaitDuration: 0 }
    }
