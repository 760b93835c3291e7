/**
 * Health of every guard and of them all, as Spring Boot's actuator reports it: `UP`, `DEGRADED`
 * (a breaker half-open, a rate limiter out of permits, a bulkhead full) or `DOWN` (a breaker open or
 * forced open); the overall status is the worst one. Available as a value and as JSON through Schema.
 *
 * ## When to use
 * For a readiness endpoint or a status page: an operator sees at once which guard is refusing.
 *
 * ## Gotchas
 * - Health is read at the moment it is asked for (a limiter is `DEGRADED` while it has no permit
 *   left in the current cycle, then `UP` again).
 * - A breaker that is Disabled or MetricsOnly is `UP` (it refuses nothing); retries and time
 *   limiters are always `UP`.
 * - An adaptive limiter is `DEGRADED` when it refused a call within its last window or since the
 *   previous health read, or while its limit has fallen to `minLimit` from a higher `initialLimit`
 *   (the dependency is too slow or failing for it to admit more); never `DOWN`, since it always admits
 *   `minLimit` calls. Being full is not enough: in-flight at the limit is its normal operating point.
 * - An adaptive throttler is `UP` while its rejection probability is 0, `DEGRADED` above 0, and `DOWN`
 *   from 0.5 once its window holds at least 10 answered requests (one failed request alone already gives 0.5,
 *   which says nothing yet).
 * - A hedge is `DEGRADED` while its retry budget has no retry left (hedges are being refused, so
 *   tail latency is no longer cut), `UP` otherwise.
 * - Wire it into a readiness probe with care: a `DOWN` breaker means a dependency is sick, not that
 *   this process is; Resilience4j's Spring integration does not fail the application on it by default.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Health, Registry } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const registry = yield* Registry.make()
 *     const breaker = yield* registry.circuitBreaker("payments")
 *     yield* breaker.transitionToOpen
 *     const health = yield* Health.check(registry)
 *     return Health.toJson(health) // {"status":"DOWN","components":{"circuitBreaker:payments":{"status":"DOWN",...}}}
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import { decodeUnknownEffect, literals, parseJson, stringRecord, union } from "#port"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { initialLimitOf } from "../guards/internal/adaptiveConfig.js"
import { adaptiveFields, readNow } from "../guards/internal/guardInternals.js"
import type { Guard, Registry } from "../registry/Registry.js"
import * as httpEdges from "./internal/httpEdges.js"

/**
 * The three statuses, best first.
 *
 * @example
 * ```ts
 * import { Health } from "breakwater"
 *
 * const isServing = (status: Health.Status) => status !== "DOWN"
 * ```
 *
 * @since 0.1.0
 */
export const Status = literals("UP", "DEGRADED", "DOWN")

/**
 * The type of {@link Status}.
 *
 * @example
 * ```ts
 * import type { Health } from "breakwater"
 *
 * const status: Health.Status = "DEGRADED"
 * ```
 *
 * @since 0.1.0
 */
export type Status = typeof Status.Type

/**
 * One guard's health: its status and the figures it was decided from.
 *
 * @example
 * ```ts
 * import { Health } from "breakwater"
 *
 * const component: Health.Component = { status: "UP", kind: "RateLimiter", name: "search", details: { availablePermissions: 7 } }
 * ```
 *
 * @since 0.1.0
 */
export const Component = Schema.Struct({
  status: Status,
  kind: literals(
    "CircuitBreaker",
    "RateLimiter",
    "Bulkhead",
    "TimeLimiter",
    "Retry",
    "AdaptiveLimiter",
    "AdaptiveThrottler",
    "Hedge",
    "HttpClientTarget",
    "HttpServer"
  ),
  name: Schema.String,
  details: stringRecord(union(Schema.Number, Schema.String))
})

/**
 * The type of {@link Component}.
 *
 * @example
 * ```ts
 * import type { Health } from "breakwater"
 *
 * const up = (c: Health.Component) => c.status === "UP"
 * ```
 *
 * @since 0.1.0
 */
export type Component = typeof Component.Type

/**
 * The aggregate: the worst status, and each guard's under `"<kind>:<name>"` (kind in camel case, as
 * in a `Registry.Spec`).
 *
 * @example
 * ```ts
 * import { Health } from "breakwater"
 *
 * const down = (health: Health.Health) => Object.entries(health.components).filter(([, c]) => c.status === "DOWN")
 * ```
 *
 * @since 0.1.0
 */
export const Health = Schema.Struct({
  status: Status,
  components: stringRecord(Component)
})

/**
 * The type of {@link Health}.
 *
 * @example
 * ```ts
 * import type { Health } from "breakwater"
 *
 * const overall = (h: Health.Health) => h.status
 * ```
 *
 * @since 0.1.0
 */
export type Health = typeof Health.Type

/** Requests a throttler's window must hold before a high rejection probability means `DOWN`. */
const THROTTLER_MIN_REQUESTS_FOR_DOWN = 10

const rank: Record<Status, number> = { UP: 0, DEGRADED: 1, DOWN: 2 }

/**
 * The worse of two statuses.
 *
 * @example
 * ```ts
 * import { Health } from "breakwater"
 *
 * const overall = Health.worst("UP", "DEGRADED") // "DEGRADED"
 * ```
 *
 * @since 0.1.0
 */
export const worst = (a: Status, b: Status): Status => rank[a] >= rank[b] ? a : b

const camel = (kind: Guard["kind"]) => kind[0]!.toLowerCase() + kind.slice(1)

/**
 * One guard's health, now.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker, Health } from "breakwater"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 * const status = Effect.map(Health.ofGuard(breaker), (component) => component.status)
 * ```
 *
 * @since 0.1.0
 */
export const ofGuard = (guard: Guard): Effect.Effect<Component> => Effect.sync(() => unsafeOfGuard(guard))

const unsafeOfGuard = (guard: Guard): Component => {
  const component = (status: Status, details: Record<string, number | string>): Component => ({
    status,
    kind: guard.kind,
    name: guard.name,
    details
  })
  switch (guard.kind) {
    case "CircuitBreaker": {
      const state = readNow(guard.state) ?? "Closed"
      const m = readNow(guard.metrics)
      const status: Status = state === "Open" || state === "ForcedOpen"
        ? "DOWN"
        : state === "HalfOpen"
        ? "DEGRADED"
        : "UP"
      return component(status, {
        state,
        ...(m === undefined ? {} : {
          failureRate: m.failureRate,
          slowCallRate: m.slowCallRate,
          bufferedCalls: m.numberOfBufferedCalls,
          failedCalls: m.numberOfFailedCalls,
          slowCalls: m.numberOfSlowCalls,
          notPermittedCalls: m.numberOfNotPermittedCalls
        })
      })
    }
    case "RateLimiter": {
      const m = readNow(guard.metrics)
      if (m === undefined) return component("UP", {})
      return component(m.availablePermissions > 0 ? "UP" : "DEGRADED", {
        availablePermissions: m.availablePermissions,
        numberOfWaitingFibers: m.numberOfWaitingFibers
      })
    }
    case "Bulkhead": {
      const m = readNow(guard.metrics)
      if (m === undefined) return component("UP", {})
      return component(m.availableConcurrentCalls > 0 ? "UP" : "DEGRADED", {
        availableConcurrentCalls: m.availableConcurrentCalls,
        maxAllowedConcurrentCalls: m.maxAllowedConcurrentCalls
      })
    }
    case "TimeLimiter":
    case "Retry":
      return component("UP", {})
    case "AdaptiveLimiter": {
      const m = readNow(guard.metrics)
      if (m === undefined) return component("UP", {})
      const fields = adaptiveFields(guard)
      const config = fields.config as { maxLimit: number; minLimit: number; initialLimit?: number }
      const fellToFloor = m.limit <= config.minLimit && initialLimitOf(config) > config.minLimit
      // Always read, so that the "since the previous read" count moves on.
      const refused = (fields as unknown as { unsafeRefusedRecently(): boolean }).unsafeRefusedRecently()
      return component(refused || fellToFloor ? "DEGRADED" : "UP", {
        limit: m.limit,
        inFlight: m.inFlight,
        noLoadLatencyMillis: m.noLoadLatencyMillis
      })
    }
    case "AdaptiveThrottler": {
      const m = readNow(guard.metrics)
      if (m === undefined) return component("UP", {})
      const p = m.rejectionProbability
      // Only answered requests count toward the minimum: the probability is computed over them alone.
      const down = p >= 0.5 && m.requests - m.inFlight >= THROTTLER_MIN_REQUESTS_FOR_DOWN
      return component(down ? "DOWN" : p > 0 ? "DEGRADED" : "UP", {
        rejectionProbability: p,
        requests: m.requests,
        inFlight: m.inFlight,
        accepts: m.accepts
      })
    }
    case "Hedge": {
      const budget = readNow(guard.budget.metrics)
      if (budget === undefined) return component("UP", {})
      return component(budget.availableRetries > 0 ? "UP" : "DEGRADED", {
        availableRetries: budget.availableRetries,
        budget: guard.budget.name
      })
    }
  }
}

/**
 * Aggregates the health of `guards`: the worst status, each guard's under `"<kind>:<name>"`.
 * With no guards, `UP`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Health } from "breakwater"
 *
 * const health = Health.ofGuards([]) // Effect<{ status: "UP", components: {} }>
 * ```
 *
 * @since 0.1.0
 */
export const ofGuards = (guards: Iterable<Guard>, http: ReadonlyArray<HttpSource> = []): Effect.Effect<Health> =>
  Effect.map(httpEdges.readEdges(http), (edges) => {
    let status: Status = "UP"
    const components: Record<string, Component> = {}
    for (const guard of guards) {
      const component = unsafeOfGuard(guard)
      components[`${camel(guard.kind)}:${guard.name}`] = component
      status = worst(status, component.status)
    }
    for (const [key, component] of httpEdges.components(edges)) {
      components[key] = component
      status = worst(status, component.status)
    }
    return { status, components }
  })

/**
 * What has HTTP edges to report (a `ResilientHttpClient`, a `RateLimitMiddleware`): give such sources
 * to {@link ofGuards} (or `Snapshot.ofGuards`, `Dashboard`'s `http`) and each outbound target is a
 * component `httpClient:<client>:<target>` (`DOWN` while its breaker is open, `DEGRADED` while its
 * pool is exhausted, its limiter is out of permits or the dependency asked for a pause), each inbound
 * policy `httpServer:<policy>` (`DEGRADED` when it refused a request in the last 10 seconds).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Health } from "breakwater"
 *
 * const none: Health.HttpSource = { httpEdges: Effect.succeed({}) }
 * const health = Health.ofGuards([], [none])
 * ```
 *
 * @since 0.3.0
 */
export type HttpSource = httpEdges.Source

/**
 * The health of every live guard of `registry`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Health, Registry } from "breakwater"
 *
 * const status = Effect.flatMap(Registry.Registry, Health.check).pipe(Effect.map((h) => h.status))
 * ```
 *
 * @since 0.1.0
 */
export const check = (registry: Registry): Effect.Effect<Health> => Effect.flatMap(registry.guards, ofGuards)

/**
 * The health as JSON (through the {@link Health} Schema).
 *
 * @example
 * ```ts
 * import { Health } from "breakwater"
 *
 * const body = Health.toJson({ status: "UP", components: {} }) // '{"status":"UP","components":{}}'
 * ```
 *
 * @since 0.1.0
 */
export const toJson: (health: Health) => string = Schema.encodeSync(parseJson(Health))

/**
 * Reads health JSON back (e.g. from another instance), failing with a `ParseError` on anything else.
 *
 * @example
 * ```ts
 * import { Health } from "breakwater"
 *
 * const health = Health.fromJson('{"status":"DEGRADED","components":{}}')
 * ```
 *
 * @since 0.1.0
 */
export const fromJson = decodeUnknownEffect(parseJson(Health))
