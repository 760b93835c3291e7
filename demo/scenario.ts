/**
 * The scenario both runs share: an offered rate with a surge, a dependency that is healthy, then
 * stalls (accepts every request, answers each slowly), then answers with errors, then hangs, then
 * recovers, and the guards of "my server" in each mode. Each of the talk's three causes of failing
 * calls has its phase: the surge exhausts the rate limiter's permits, the stall the HTTP client's
 * connection pool (the breaker sees slow successes, no failures), the errors open the circuit. Pure
 * values: the live run and the virtual-time simulation read the same numbers.
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
  /** When the clients' surge starts (offered rate times `surgeFactor`) and ends (the dependency stalls). */
  readonly surgeAt: number
  readonly surgeFactor: number
  /** When the dependency starts stalling: every answer takes `stallMillis` (the pool fills). */
  readonly stallAt: number
  readonly stallMillis: number
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
 * The scenario for a run of `durationMillis`: healthy for the first 12%, a surge of 2.5 times the
 * rate until 27%, a stall until 42%, errors until 57%, hangs until 67%, then recovered; the
 * dependency's capacity is twice the offered rate, so a healthy system has room to spare and only a
 * surge or amplification can overload it.
 */
export const make = (overrides: Overrides = {}): Scenario => {
  const durationMillis = overrides.durationMillis ?? 18_000
  const rate = overrides.rate ?? 20
  return {
    seed: overrides.seed ?? 7,
    durationMillis,
    rate,
    capacity: rate * 2,
    surgeAt: Math.round(durationMillis * 0.12),
    surgeFactor: 2.5,
    stallAt: Math.round(durationMillis * 0.27),
    stallMillis: 400,
    errorsAt: Math.round(durationMillis * 0.42),
    timeoutsAt: Math.round(durationMillis * 0.57),
    recoversAt: Math.round(durationMillis * 0.67),
    latencyMillis: [5, 25],
    hangMillis: 3_000,
    clientAttempts: 3,
    clientBackoffMillis: 200,
    clientTimeoutMillis: 2_500
  }
}

export type Phase = "healthy" | "surge" | "stall" | "errors" | "timeouts" | "recovered"

export const phaseAt = (scenario: Scenario, elapsedMillis: number): Phase =>
  elapsedMillis < scenario.surgeAt
    ? "healthy"
    : elapsedMillis < scenario.stallAt
    ? "surge"
    : elapsedMillis < scenario.errorsAt
    ? "stall"
    : elapsedMillis < scenario.timeoutsAt
    ? "errors"
    : elapsedMillis < scenario.recoversAt
    ? "timeouts"
    : "recovered"

/** The rate the clients offer at `elapsedMillis`: the scenario's, times `surgeFactor` during the surge. */
export const rateAt = (scenario: Scenario, elapsedMillis: number): number =>
  phaseAt(scenario, elapsedMillis) === "surge" ? scenario.rate * scenario.surgeFactor : scenario.rate

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
      bulkhead: undefined,
      // Node's default: as many connections as there are requests.
      pool: undefined
    }
    : {
      circuitBreaker: {
        slidingWindowType: "COUNT_BASED" as const,
        slidingWindowSize: 20,
        minimumNumberOfCalls: 10,
        failureRateThreshold: 50,
        slowCallRateThreshold: 80,
        slowCallDurationThreshold: 800,
        waitDurationInOpenState: 2_000,
        permittedNumberOfCallsInHalfOpenState: 4
      },
      // Well under the dependency's capacity (its retries bypass the limiter), over any second: the
      // dependency never sees more in a second, and healthy traffic (two thirds of it) keeps room for
      // the small bursts a busy event loop makes of evenly spaced arrivals. Fixed 250 ms slices of 7
      // refused a few healthy calls whenever a stall moved two arrivals into the next slice.
      rateLimiter: {
        algorithm: "sliding-window" as const,
        limitForPeriod: Math.max(1, Math.floor(scenario.capacity * 0.75)),
        limitRefreshPeriod: 1_000,
        timeoutDuration: 0
      },
      retry: { maxAttempts: 3, waitDuration: 100 },
      retryBudget: { percentCanRetry: 0.1, minRetriesPerSecond: 1, ttl: 10_000 },
      attemptTimeout: 1_000,
      totalTimeout: 2_000,
      bulkhead: { maxConcurrentCalls: 12, maxWaitDuration: 0 },
      // A bounded connection pool, and a call refused (pool exhausted) rather than queued behind another.
      pool: { connections: 6, queueLimit: 1 }
    }
