/**
 * One Schema-typed JSON document with every guard's configuration, state, health and figures: what a
 * dashboard, a CLI or another service reads. Counters in it are cumulative since the guard was
 * created (`...Total`); the rest is read at the moment of the snapshot.
 *
 * ## When to use
 * For an admin endpoint (`GET /resilience`), a debug dump, or a test that wants every figure at once.
 *
 * ## Gotchas
 * - Configuration holds only plain values: durations in millis, no predicates; a `Schedule` shows as
 *   `"<schedule>"`.
 * - `at` is the `Clock` time in epoch millis (a `TestClock` in tests).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Registry, Snapshot } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const registry = yield* Registry.make()
 *     yield* registry.circuitBreaker("payments", { failureRateThreshold: 25 })
 *     const snapshot = yield* Snapshot.make(registry)
 *     return Snapshot.toJson(snapshot) // {"at":0,"status":"UP","guards":[{"kind":"CircuitBreaker","name":"payments",...}]}
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import { literals, parseJson, stringRecord, union } from "#port"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import {
  breakerFields,
  bulkheadFields,
  configurationOf,
  limiterFields,
  readNow,
  timeLimiterFields
} from "../guards/internal/guardInternals.js"
import type { Guard, Registry } from "../registry/Registry.js"
import * as Health from "./Health.js"
import * as httpEdges from "./internal/httpEdges.js"

/**
 * One guard in a {@link Snapshot}.
 *
 * @example
 * ```ts
 * import type { Snapshot } from "breakwater"
 *
 * const failing = (g: Snapshot.GuardSnapshot) => (g.metrics["failureRate"] ?? -1) >= 50
 * ```
 *
 * @since 0.1.0
 */
export const GuardSnapshot = Schema.Struct({
  kind: literals(
    "CircuitBreaker",
    "RateLimiter",
    "Bulkhead",
    "TimeLimiter",
    "Retry",
    "AdaptiveLimiter",
    "AdaptiveThrottler",
    "Hedge"
  ),
  name: Schema.String,
  /** The breaker's state; absent for the other kinds. */
  state: Schema.optional(Schema.String),
  status: Health.Status,
  configuration: stringRecord(union(Schema.Number, Schema.String, Schema.Boolean)),
  metrics: stringRecord(Schema.Number)
})

/**
 * The type of {@link GuardSnapshot}.
 *
 * @example
 * ```ts
 * import type { Snapshot } from "breakwater"
 *
 * const label = (g: Snapshot.GuardSnapshot) => `${g.kind}/${g.name}: ${g.status}`
 * ```
 *
 * @since 0.1.0
 */
export type GuardSnapshot = typeof GuardSnapshot.Type

/**
 * The whole document: when it was taken, the overall health status, and every guard.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Snapshot } from "breakwater"
 *
 * // Throws when the document is not a snapshot.
 * const read = (body: string): Snapshot.Snapshot => Schema.decodeUnknownSync(Snapshot.Snapshot)(JSON.parse(body))
 * ```
 *
 * @since 0.1.0
 */
export const Snapshot = Schema.Struct({
  at: Schema.Number,
  status: Health.Status,
  guards: Schema.Array(GuardSnapshot),
  /** The HTTP edges, when sources were given (see {@link HttpEdges}). */
  http: Schema.optional(httpEdges.Edges)
})

/**
 * The HTTP edges of a snapshot: per outbound target (`client`, `target`) its latency percentiles
 * (`p50`/`p95`/`p99` of its newest 1,024 attempts, millis), responses by code and by class, failures,
 * refusals before the network (`circuitOpen`, `rateLimited`, `paused`, `poolExhausted`) and its
 * connection pool (`busy`, `free`, `queued`, `pending`); per inbound `RateLimitMiddleware` policy its
 * latency, responses, refusals by reason (`rate_limited` is a 429, `shed` and `concurrency` a 503,
 * `body_timeout` a 408) and live keys. Counts are cumulative since the edge was created.
 *
 * @example
 * ```ts
 * import type { Snapshot } from "breakwater"
 *
 * const exhausted = (http: Snapshot.HttpEdges) =>
 *   http.outbound.filter((edge) => edge.pressures.includes("pool-exhausted")).map((edge) => edge.target)
 * ```
 *
 * @since 0.3.0
 */
export const HttpEdges = httpEdges.Edges

/**
 * The type of {@link HttpEdges}.
 *
 * @example
 * ```ts
 * import type { Snapshot } from "breakwater"
 *
 * const slowest = (http: Snapshot.HttpEdges) => Math.max(0, ...http.outbound.map((e) => e.latencyMillis.p99 ?? 0))
 * ```
 *
 * @since 0.3.0
 */
export type HttpEdges = typeof HttpEdges.Type

/**
 * The type of {@link Snapshot}.
 *
 * @example
 * ```ts
 * import type { Snapshot } from "breakwater"
 *
 * const names = (s: Snapshot.Snapshot) => s.guards.map((g) => g.name)
 * ```
 *
 * @since 0.1.0
 */
export type Snapshot = typeof Snapshot.Type

const figures = (guard: Guard, at: number): { readonly state?: string; readonly metrics: Record<string, number> } => {
  switch (guard.kind) {
    case "CircuitBreaker": {
      const fields = breakerFields(guard)
      const window = readNow(guard.metrics)
      return {
        state: readNow(guard.state) ?? "Closed",
        metrics: {
          ...window,
          successfulCallsTotal: fields.calls.total(0),
          failedCallsTotal: fields.calls.total(1),
          ignoredCallsTotal: fields.calls.total(2),
          notPermittedCallsTotal: fields.notPermittedCalls
        }
      }
    }
    case "RateLimiter": {
      const fields = limiterFields(guard)
      const learned = fields.lastQuota
      return {
        metrics: {
          ...readNow(guard.metrics),
          successfulAcquiresTotal: fields.successfulAcquires,
          failedAcquiresTotal: fields.failedAcquires,
          // The quota learned from the upstream, as last seen, while in force.
          ...(learned === undefined || learned.resetAt <= at
            ? {}
            : { learnedRemaining: learned.remaining, learnedResetAfterMillis: learned.resetAt - at })
        }
      }
    }
    case "Bulkhead":
      return { metrics: { ...readNow(guard.metrics), rejectedCallsTotal: bulkheadFields(guard).rejectedCalls } }
    case "TimeLimiter": {
      const fields = timeLimiterFields(guard)
      return {
        metrics: {
          successfulCallsTotal: fields.successfulCalls,
          failedCallsTotal: fields.failedCalls,
          timeoutsTotal: fields.timeouts
        }
      }
    }
    case "Retry":
      return { metrics: { ...readNow(guard.metrics) } }
    case "AdaptiveLimiter": {
      const m = readNow(guard.metrics)
      if (m === undefined) return { metrics: {} }
      const { rejectedCalls, ...now } = m
      return { metrics: { ...now, rejectedCallsTotal: rejectedCalls } }
    }
    case "AdaptiveThrottler": {
      const m = readNow(guard.metrics)
      if (m === undefined) return { metrics: {} }
      return {
        metrics: {
          requests: m.requests,
          accepts: m.accepts,
          rejectionProbability: m.rejectionProbability,
          throttledCallsTotal: m.throttledCalls,
          sentCallsTotal: m.sentCalls,
          rejectedCallsTotal: m.rejectedCalls
        }
      }
    }
    case "Hedge": {
      const m = readNow(guard.metrics)
      const budget = readNow(guard.budget.metrics)
      if (m === undefined) return { metrics: {} }
      return {
        metrics: {
          callsTotal: m.calls,
          hedgesStartedTotal: m.hedgesStarted,
          hedgesWonTotal: m.hedgesWon,
          hedgesRefusedByBudgetTotal: m.hedgesRefusedByBudget,
          delayMillis: m.delayMillis,
          samples: m.samples,
          ...(budget === undefined ? {} : { budgetAvailableRetries: budget.availableRetries })
        }
      }
    }
  }
}

/**
 * A snapshot of `guards`, now, with the HTTP edges of `http` (a `ResilientHttpClient`, a
 * `RateLimitMiddleware`) when given.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Snapshot } from "breakwater"
 *
 * const empty = Snapshot.ofGuards([]) // Effect<{ at, status: "UP", guards: [] }>
 * ```
 *
 * @since 0.1.0
 */
export const ofGuards = (
  guards: Iterable<Guard>,
  http: ReadonlyArray<Health.HttpSource> = []
): Effect.Effect<Snapshot> =>
  Effect.gen(function*() {
    const at = yield* Clock.currentTimeMillis
    const list = Array.from(guards)
    const health = yield* Health.ofGuards(list)
    const edges = http.length === 0 ? undefined : yield* httpEdges.readEdges(http)
    let status = health.status
    if (edges !== undefined) {
      for (const [, component] of httpEdges.components(edges)) status = Health.worst(status, component.status)
    }
    // One pass over the components: a search per guard made a snapshot quadratic (1,000 guards: ~1 s).
    const statusOf = new Map<string, Health.Status>()
    for (const component of Object.values(health.components)) {
      statusOf.set(`${component.kind}\u0000${component.name}`, component.status)
    }
    return {
      at,
      status,
      ...(edges === undefined ? {} : { http: edges }),
      guards: list.map((guard): GuardSnapshot => {
        const { metrics, state } = figures(guard, at)
        return {
          kind: guard.kind,
          name: guard.name,
          ...(state === undefined ? {} : { state }),
          status: statusOf.get(`${guard.kind}\u0000${guard.name}`) ?? "UP",
          configuration: configurationOf(guard),
          metrics
        }
      })
    }
  })

/**
 * A snapshot of every live guard of `registry`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Registry, Snapshot } from "breakwater"
 *
 * const snapshot = Effect.flatMap(Registry.Registry, Snapshot.make)
 * ```
 *
 * @since 0.1.0
 */
export const make = (registry: Registry, http: ReadonlyArray<Health.HttpSource> = []): Effect.Effect<Snapshot> =>
  Effect.flatMap(registry.guards, (guards) => ofGuards(guards, http))

/**
 * The snapshot as JSON (through the {@link Snapshot} Schema).
 *
 * @example
 * ```ts
 * import { Snapshot } from "breakwater"
 *
 * const body = Snapshot.toJson({ at: 0, status: "UP", guards: [] })
 * ```
 *
 * @since 0.1.0
 */
export const toJson: (snapshot: Snapshot) => string = Schema.encodeSync(parseJson(Snapshot))
