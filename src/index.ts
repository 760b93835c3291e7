/**
 * breakwater: resilience guards for Effect. The root entry holds the guards and the core and needs
 * only `effect`; the integrations (HTTP client and server middleware, dashboard, Prometheus, Redis) are
 * reached through their own subpaths (`breakwater/ResilientHttpClient`, `breakwater/RateLimitMiddleware`,
 * `breakwater/Dashboard`, `breakwater/Prometheus`, `breakwater/RedisStore`) so that importing the root
 * loads none of their dependencies.
 *
 * @since 0.1.0
 */

/**
 * Circuit breaker with Resilience4j's states, options and rules.
 *
 * @since 0.1.0
 */
export * as CircuitBreaker from "./guards/CircuitBreaker.js"

/**
 * Bulkhead: bounded concurrency with fair FIFO waiting.
 *
 * @since 0.1.0
 */
export * as Bulkhead from "./guards/Bulkhead.js"

/**
 * Rate limiter: fixed-window (Resilience4j), token-bucket and sliding-window; keyed; atomic across
 * several limiters.
 *
 * @since 0.1.0
 */
export * as RateLimiter from "./guards/RateLimiter.js"

/**
 * Retries with Resilience4j's options, any Schedule for the delays, and a shared retry budget.
 *
 * @since 0.1.0
 */
export * as Retry from "./guards/Retry.js"

/**
 * Finagle's retry budget: retries may add at most a percentage of recent traffic plus a floor.
 *
 * @since 0.1.0
 */
export * as RetryBudget from "./guards/RetryBudget.js"

/**
 * Time limiter: a typed timeout that interrupts or detaches the call.
 *
 * @since 0.1.0
 */
export * as TimeLimiter from "./guards/TimeLimiter.js"

/**
 * Adaptive concurrency limiter: a limit that follows measured latency and drops (AIMD or gradient,
 * after Netflix's concurrency-limits).
 *
 * @since 0.1.0
 */
export * as AdaptiveLimiter from "./guards/AdaptiveLimiter.js"

/**
 * Client-side adaptive throttling (Google SRE): refuse locally with the probability the dependency's
 * recent rejections call for.
 *
 * @since 0.1.0
 */
export * as AdaptiveThrottler from "./guards/AdaptiveThrottler.js"

/**
 * Hedged requests for idempotent calls: another attempt after a delay (fixed or a measured
 * percentile), first success wins, hedges paid from a retry budget.
 *
 * @since 0.1.0
 */
export * as Hedge from "./guards/Hedge.js"

/**
 * The error every guard fails with on bad options.
 *
 * @since 0.1.0
 */
export { type ConfigIssue, InvalidConfigError } from "./errors/InvalidConfigError.js"

/**
 * Typed middleware and its composition.
 *
 * @since 0.1.0
 */
export * as Policy from "./shared/Policy.js"

/**
 * Named guards from named configurations, listed for monitoring and reconfigured at runtime.
 *
 * @since 0.1.0
 */
export * as Registry from "./registry/Registry.js"

/**
 * Fault injection as a policy: failures, defects, latency, replacement results or side effects at a
 * configured rate, switchable at runtime, deterministic under a seeded `Random`.
 *
 * @since 0.1.0
 */
export * as Chaos from "./guards/Chaos.js"

/**
 * Every guard's figures as Effect `Metric`s with Resilience4j's names, brought up to date on read.
 *
 * @since 0.1.0
 */
export * as Metrics from "./observability/Metrics.js"

/**
 * Every guard's events in one stream, and a ring of recent events per guard for late readers.
 *
 * @since 0.1.0
 */
export * as Events from "./observability/Events.js"

/**
 * Spring-actuator-like health of every guard and overall (UP, DEGRADED, DOWN), as a value and JSON.
 *
 * @since 0.1.0
 */
export * as Health from "./observability/Health.js"

/**
 * One Schema-typed JSON document with every guard's configuration, state and figures.
 *
 * @since 0.1.0
 */
export * as Snapshot from "./observability/Snapshot.js"

/**
 * Shared state for guards: the `Store` service, its `StoreError` and failure modes (`onStoreFailure`),
 * and the interfaces a store implements. Without a store every guard keeps its state in process.
 *
 * @since 0.1.0
 */
export * as Store from "./store/Store.js"
