/**
 * The metrics the collector keeps, by name, help text and labels: Resilience4j's (Micrometer's) names
 * and label values, under a configurable prefix.
 *
 * @internal
 */
import { counterFamily, gaugeFamily, histogramFamily } from "#port"
import type * as CircuitBreaker from "../../guards/CircuitBreaker.js"
import { DURATION_BOUNDS_MILLIS } from "../../shared/internal/observe.js"

/** Resilience4j's (Micrometer's) label values for the breaker's states. */
export const stateLabels: ReadonlyArray<readonly [CircuitBreaker.State, string]> = [
  ["Closed", "closed"],
  ["Open", "open"],
  ["HalfOpen", "half_open"],
  ["ForcedOpen", "forced_open"],
  ["Disabled", "disabled"],
  ["MetricsOnly", "metrics_only"]
]

export const retryKinds = [
  ["numberOfSuccessfulCallsWithoutRetryAttempt", "successful_without_retry"],
  ["numberOfSuccessfulCallsWithRetryAttempt", "successful_with_retry"],
  ["numberOfFailedCallsWithoutRetryAttempt", "failed_without_retry"],
  ["numberOfFailedCallsWithRetryAttempt", "failed_with_retry"]
] as const

/** The metric definitions for one prefix. */
export const definitions = (prefix: string) => {
  const gauge = (name: string, description: string) => gaugeFamily(`${prefix}_${name}`, description)
  const counter = (name: string, description: string) => counterFamily(`${prefix}_${name}`, description)
  return {
    breakerState: gauge("circuitbreaker_state", "The states of the circuit breaker (1 for the current one)"),
    breakerCalls: histogramFamily(
      `${prefix}_circuitbreaker_calls_seconds`,
      "Total number of calls, by outcome, and their duration",
      DURATION_BOUNDS_MILLIS.map((millis) => millis / 1000)
    ),
    notPermitted: counter("circuitbreaker_not_permitted_calls", "Total number of calls not permitted"),
    breakerStoreOutages: counter(
      "circuitbreaker_store_outages",
      "Total number of times a shared circuit breaker lost its store and ran in its onStoreFailure mode"
    ),
    breakerStoreUnavailableCalls: counter(
      "circuitbreaker_store_unavailable_calls",
      "Total number of calls a shared circuit breaker decided without its store, by onStoreFailure mode"
    ),
    breakerStoreAvailable: gauge(
      "circuitbreaker_store_available",
      "1 while the shared circuit breaker's store answers, else 0"
    ),
    breakerSettingsMismatches: counter(
      "circuitbreaker_store_settings_mismatches",
      "Total number of operations the store evaluated under another instance's settings of the same breaker"
    ),
    breakerStatesDiscarded: counter(
      "circuitbreaker_store_states_discarded",
      "Total number of times a shared circuit breaker's stored state did not parse and was discarded as lost"
    ),
    failureRate: gauge("circuitbreaker_failure_rate", "The failure rate of the circuit breaker"),
    slowCallRate: gauge("circuitbreaker_slow_call_rate", "The slow call rate of the circuit breaker"),
    bufferedCalls: gauge("circuitbreaker_buffered_calls", "The number of buffered calls in the sliding window"),
    slowCalls: gauge("circuitbreaker_slow_calls", "The number of slow calls in the sliding window"),
    availablePermissions: gauge("ratelimiter_available_permissions", "The number of available permissions"),
    waitingThreads: gauge("ratelimiter_waiting_threads", "The number of waiting fibers"),
    limiterCalls: counter("ratelimiter_calls", "Total number of acquisitions, by outcome"),
    limiterStoreOutages: counter(
      "ratelimiter_store_outages",
      "Total number of times a shared rate limiter lost its store and ran in its onStoreFailure mode"
    ),
    limiterStoreUnavailableCalls: counter(
      "ratelimiter_store_unavailable_calls",
      "Total number of acquisitions a shared rate limiter decided without its store, by onStoreFailure mode"
    ),
    limiterStoreAvailable: gauge(
      "ratelimiter_store_available",
      "1 while the shared rate limiter's store answers, else 0"
    ),
    limiterSettingsMismatches: counter(
      "ratelimiter_store_settings_mismatches",
      "Total number of acquisitions the store decided under another instance's settings of the same limiter"
    ),
    limiterStatesDiscarded: counter(
      "ratelimiter_store_states_discarded",
      "Total number of times a shared rate limiter's stored state did not parse and was discarded as lost"
    ),
    availableConcurrentCalls: gauge("bulkhead_available_concurrent_calls", "The number of free slots"),
    maxAllowedConcurrentCalls: gauge("bulkhead_max_allowed_concurrent_calls", "The maximum number of slots"),
    bulkheadRejected: counter("bulkhead_rejected_calls", "Total number of calls refused for want of a slot"),
    retryCalls: counter("retry_calls", "Total number of calls, by outcome and whether they were retried"),
    budgetRefusals: counter("retry_budget_refusals", "Total number of retries the retry budget refused"),
    timeLimiterCalls: counter("timelimiter_calls", "Total number of calls, by outcome"),
    adaptiveLimit: gauge("adaptivelimiter_limit", "The current concurrency limit"),
    adaptiveInFlight: gauge("adaptivelimiter_in_flight_calls", "The number of calls running under the limit"),
    adaptiveWaiting: gauge("adaptivelimiter_waiting_calls", "The number of calls waiting for room under the limit"),
    adaptiveNoLoad: gauge(
      "adaptivelimiter_no_load_latency_seconds",
      "The estimated latency of the dependency at no load (-1 before the first window)"
    ),
    adaptiveRejected: counter("adaptivelimiter_rejected_calls", "Total number of calls refused at the limit"),
    throttleProbability: gauge(
      "adaptivethrottler_rejection_probability",
      "The probability that the next call is refused locally"
    ),
    throttlerCalls: counter("adaptivethrottler_calls", "Total number of calls, by outcome"),
    hedgeCalls: counter("hedge_calls", "Total number of hedged calls"),
    hedgeAttempts: counter("hedge_attempts", "Total number of hedges, by what became of them"),
    hedgeDelay: gauge("hedge_delay_seconds", "The delay before a hedge, as the next call would use it")
  }
}

export type Definitions = ReturnType<typeof definitions>
