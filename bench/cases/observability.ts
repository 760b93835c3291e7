/**
 * What observability costs on the hot path. Metrics: the guards always bump plain counters; "metrics
 * on" adds a collector that collects (as a scrape does, histogram replay included) after every timed
 * slice of calls, so its amortized cost is in the figure. "Per-call additions" is the floor wrapper
 * plus exactly what observability added to a closed breaker's call (a look for a span, a duration
 * bucket). Events: a full subscriber makes the breaker build an event per call and a fiber consume it
 * (hence `runPromise`); the rare-events recorder does not. Tracing: the same call inside a span
 * (annotated), next to the floor inside a span (the span's own cost). A scrape: one Prometheus text
 * exposition through OpenTelemetry of 20 guards (10 breakers that each saw one call since the last
 * scrape, 10 limiters), plus whatever else Effect's global metric registry holds.
 */
import { Resource } from "@effect/opentelemetry"
import { Effect, Fiber, Stream } from "effect"
import { CircuitBreaker, Events, Metrics, RateLimiter, Registry } from "../../src/index.js"
import * as Prometheus from "../../src/observability/Prometheus.js"
import { CallTimings, currentSpan } from "../../src/shared/internal/observe.js"
import { asyncEffectCase, atTeardown, effectCase, floor, inScope } from "../floor.js"
import type { Case } from "../harness.js"

const call = Effect.succeed(1)

export const Observability = {
  additions: "floor wrapper + observability's per-call additions (span check, duration bucket)",
  breakerMetrics: "breaker closed, metrics on (collected after every slice)",
  breakerRecorder: "breaker closed, rare-events recorder on",
  breakerEvents: "breaker closed, full events subscriber (runPromise)",
  floorSpan: "floor wrapper inside a span (the span's own cost)",
  breakerSpan: "breaker closed, inside a span (annotated)",
  limiterMetrics: "rate limiter fixed-window, metrics on (collected after every slice)",
  scrape: "Prometheus scrape, 20 guards (one op = one scrape)"
} as const

const metered = inScope(Effect.gen(function*() {
  const registry = yield* Registry.make()
  const collector = yield* Metrics.make({ registry, prefix: "bench" })
  const breaker = yield* registry.circuitBreaker("metered", { slidingWindowSize: 100, minimumNumberOfCalls: 100 })
  const limiter = yield* registry.rateLimiter("metered", { limitForPeriod: 1e12, limitRefreshPeriod: "1 hour" })
  return { collector, breaker, limiter }
}))

/** Like `effectCase`, collecting after each timed slice (each `run`), inside the timing. */
const collectedCase = (name: string, op: Effect.Effect<unknown, unknown>): Case => {
  const inner = effectCase(name, op)
  return {
    ...inner,
    run: (ops) => {
      void inner.run(ops)
      metered.collector.unsafeCollect()
    }
  }
}

// Exactly what observability added to a closed breaker's call, on top of the floor.
const timings = new CallTimings()
let spans = 0
const additions = Effect.suspend(() => {
  if (currentSpan() !== undefined) spans++
  return Effect.matchCauseEffect(call, {
    onSuccess: (a) => {
      timings.record(0, spans & 1)
      return Effect.succeed(a)
    },
    onFailure: (cause) => {
      timings.record(1, 0)
      return Effect.failCause(cause)
    }
  })
})

// A rare-events recorder on its own registry (its breaker is otherwise like the metered one).
const recorded = inScope(Effect.gen(function*() {
  const registry = yield* Registry.make()
  yield* Events.record(registry)
  return yield* registry.circuitBreaker("recorded", { slidingWindowSize: 100, minimumNumberOfCalls: 100 })
}))

// A full subscriber to every event of its own registry, in a fiber beside the calls.
let eventsSeen = 0
const watched = inScope(Effect.gen(function*() {
  const registry = yield* Registry.make()
  const breaker = yield* registry.circuitBreaker("watched", { slidingWindowSize: 100, minimumNumberOfCalls: 100 })
  const fiber = Effect.runFork(Stream.runForEach(Events.stream(registry), () => Effect.sync(() => eventsSeen++)))
  atTeardown(() => Effect.runPromise(Effect.asVoid(Fiber.interrupt(fiber))))
  return breaker
}))

/** Events the full subscriber received (a check that it really ran). */
export const observabilityEventsSeen = () => eventsSeen

const spanned = inScope(CircuitBreaker.make({ name: "spanned", slidingWindowSize: 100, minimumNumberOfCalls: 100 }))

// The scrape's own registry: 20 guards that see a few calls between scrapes.
const scraped = inScope(
  Effect.gen(function*() {
    const registry = yield* Registry.make()
    const collector = yield* Metrics.make({ registry, prefix: "scraped" })
    const breakers: Array<CircuitBreaker.CircuitBreaker> = []
    for (let i = 0; i < 10; i++) {
      breakers.push(yield* registry.circuitBreaker(`breaker-${i}`))
      yield* registry.rateLimiter(`limiter-${i}`)
    }
    const prometheus = yield* Prometheus.make(collector)
    const traffic = Effect.forEach(breakers, (b) => CircuitBreaker.withCircuitBreaker(call, b), { discard: true })
    return Effect.zipRight(traffic, prometheus.scrape)
  }).pipe(Effect.provide(Resource.layerEmpty))
)

export const cases: ReadonlyArray<Case> = [
  effectCase(Observability.additions, additions),
  collectedCase(Observability.breakerMetrics, CircuitBreaker.withCircuitBreaker(call, metered.breaker)),
  effectCase(Observability.breakerRecorder, CircuitBreaker.withCircuitBreaker(call, recorded)),
  asyncEffectCase(Observability.breakerEvents, CircuitBreaker.withCircuitBreaker(call, watched)),
  effectCase(Observability.floorSpan, floor(call).pipe(Effect.withSpan("request"))),
  effectCase(
    Observability.breakerSpan,
    CircuitBreaker.withCircuitBreaker(call, spanned).pipe(Effect.withSpan("request"))
  ),
  collectedCase(Observability.limiterMetrics, RateLimiter.withRateLimiter(call, metered.limiter)),
  asyncEffectCase(Observability.scrape, scraped, { startOps: 1 })
]
