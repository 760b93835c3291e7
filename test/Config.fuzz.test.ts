import { defectOf } from "#port"
import { configFromJson, FastCheck, withConfig } from "#test-port"
/**
 * Bad input: every options and configuration decoder, fed random values (fast-check's `anything`, with
 * bigints, dates, maps, boxed values and null prototypes; random JSON for configuration) and targeted
 * mutations of valid options. Always a typed error (InvalidConfigError, or ConfigError for unreadable
 * configuration) that names the offending field, and a message that can be printed: never a throw,
 * never a defect.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, type Scope } from "effect"
import type { InvalidConfigError } from "../src/errors/InvalidConfigError.js"
import * as AdaptiveLimiter from "../src/guards/AdaptiveLimiter.js"
import * as AdaptiveThrottler from "../src/guards/AdaptiveThrottler.js"
import * as Bulkhead from "../src/guards/Bulkhead.js"
import * as Chaos from "../src/guards/Chaos.js"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as Hedge from "../src/guards/Hedge.js"
import * as RateLimiter from "../src/guards/RateLimiter.js"
import * as Retry from "../src/guards/Retry.js"
import * as RetryBudget from "../src/guards/RetryBudget.js"
import * as TimeLimiter from "../src/guards/TimeLimiter.js"
import * as Registry from "../src/registry/Registry.js"
import { anything, fuzzMake, type GuardCase, nearMiss, RUNS, settle } from "./helpers/optionFuzz.js"

/** Each guard: its make, a valid base, and the fields to mutate. */
const guards: ReadonlyArray<GuardCase> = [
  {
    name: "CircuitBreaker",
    make: (o) => CircuitBreaker.make(o),
    valid: {
      name: "cb",
      failureRateThreshold: 50,
      slowCallRateThreshold: 100,
      slowCallDurationThreshold: "2 seconds",
      slidingWindowType: "COUNT_BASED",
      slidingWindowSize: 10,
      minimumNumberOfCalls: 5,
      permittedNumberOfCallsInHalfOpenState: 3,
      maxWaitDurationInHalfOpenState: 0,
      transitionToStateAfterWaitDuration: "Open",
      waitDurationInOpenState: "10 seconds",
      automaticTransitionFromOpenToHalfOpenEnabled: false,
      recordError: () => true,
      ignoreError: () => false,
      recordResult: () => false
    }
  },
  {
    name: "RateLimiter",
    make: (o) => RateLimiter.make(o),
    valid: {
      name: "rl",
      limitForPeriod: 5,
      limitRefreshPeriod: "1 second",
      timeoutDuration: 0,
      algorithm: "fixed-window"
    },
    partners: { algorithm: ["capacity", "limitRefreshPeriod"] }
  },
  {
    name: "RateLimiter (token bucket)",
    make: (o) => RateLimiter.make(o),
    valid: { name: "rl", algorithm: "token-bucket", limitForPeriod: 5, capacity: 10, limitRefreshPeriod: 100 },
    partners: { algorithm: ["capacity", "limitRefreshPeriod"], limitRefreshPeriod: ["limitRefreshPeriod"] }
  },
  {
    name: "RateLimiter.keyed",
    make: (o) => RateLimiter.keyed(o),
    valid: { name: "k", limitForPeriod: 5, maxKeys: 10, idleTimeToLive: "1 minute" },
    partners: { algorithm: ["capacity", "limitRefreshPeriod"] }
  },
  {
    name: "Bulkhead",
    make: (o) => Bulkhead.make(o),
    valid: { name: "b", maxConcurrentCalls: 3, maxWaitDuration: "1 second" }
  },
  {
    name: "TimeLimiter",
    make: (o) => TimeLimiter.make(o),
    valid: { name: "t", timeoutDuration: "1 second", cancelRunningCall: true }
  },
  {
    name: "Retry",
    make: (o) => Retry.make(o),
    valid: {
      name: "r",
      maxAttempts: 3,
      waitDuration: 10,
      retryOn: () => true,
      retryOnResult: () => false,
      failAfterMaxAttempts: false,
      retryRejections: false
    },
    partners: { waitDuration: ["schedule"], schedule: ["schedule"] }
  },
  {
    name: "AdaptiveLimiter",
    make: (o) => AdaptiveLimiter.make(o),
    valid: {
      name: "al",
      algorithm: "aimd",
      initialLimit: 10,
      minLimit: 2,
      maxLimit: 50,
      backoffRatio: 0.8,
      timeout: "1 second",
      smoothing: 0.3,
      tolerance: 1.2,
      queueSize: 2,
      baselineWindows: 30,
      windowDuration: 500,
      minWindowSamples: 5,
      maxWaitDuration: "10 millis",
      isDrop: () => true
    },
    partners: {
      minLimit: ["maxLimit", "initialLimit"],
      maxLimit: ["maxLimit", "initialLimit"],
      initialLimit: ["initialLimit"]
    }
  },
  {
    name: "AdaptiveThrottler",
    make: (o) => AdaptiveThrottler.make(o),
    valid: { name: "at", k: 1.5, window: "30 seconds", isRejection: () => true }
  },
  {
    name: "Hedge",
    make: (o) => Hedge.make(o),
    valid: { name: "h", delay: "10 millis", percentile: 95, maxHedgedAttempts: 2, sampleSize: 50, minSamples: 10 },
    partners: { sampleSize: ["minSamples"], minSamples: ["minSamples"] }
  },
  {
    name: "RetryBudget",
    make: (o) => RetryBudget.make(o),
    valid: { name: "rb", ttl: "10 seconds", minRetriesPerSecond: 10, percentCanRetry: 0.2 }
  },
  {
    name: "Chaos",
    make: (o) => Chaos.make(o),
    valid: { name: "c", fault: Chaos.latency(5), rate: 0.5, enabled: true }
  }
]

describe("option decoders: random input", () => {
  fuzzMake(guards)
})

describe("reconfigure: random changes", () => {
  const reconfigurable: ReadonlyArray<{
    readonly name: string
    readonly make: Effect.Effect<
      { reconfigure: (changes: any) => Effect.Effect<void, InvalidConfigError> },
      unknown,
      Scope.Scope
    >
    readonly keys: ReadonlyArray<string>
  }> = [
    { name: "CircuitBreaker", make: CircuitBreaker.make({ name: "cb" }), keys: Object.keys(guards[0]!.valid) },
    { name: "RateLimiter", make: RateLimiter.make({ name: "rl" }), keys: Object.keys(guards[1]!.valid) },
    { name: "Bulkhead", make: Bulkhead.make({ name: "b" }), keys: ["maxConcurrentCalls", "maxWaitDuration"] },
    { name: "TimeLimiter", make: TimeLimiter.make({ name: "t" }), keys: ["timeoutDuration", "cancelRunningCall"] },
    { name: "Retry", make: Retry.make({ name: "r" }), keys: Object.keys(guards[6]!.valid) },
    { name: "Chaos", make: Chaos.make({ name: "c", fault: Chaos.latency(1) }), keys: ["rate", "enabled"] },
    {
      name: "AdaptiveLimiter",
      make: AdaptiveLimiter.make({ name: "al" }),
      keys: Object.keys(guards.find((g) => g.name === "AdaptiveLimiter")!.valid)
    },
    { name: "AdaptiveThrottler", make: AdaptiveThrottler.make({ name: "at" }), keys: ["k", "window", "isRejection"] },
    {
      name: "Hedge",
      make: Hedge.make({ name: "h" }),
      keys: Object.keys(guards.find((g) => g.name === "Hedge")!.valid)
    }
  ]
  for (const guard of reconfigurable) {
    it.effect(`${guard.name}.reconfigure: typed error or applied, never a defect`, () =>
      Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(
            FastCheck.dictionary(FastCheck.oneof(FastCheck.constantFrom(...guard.keys), FastCheck.string()), nearMiss),
            async (changes) => {
              await Effect.runPromise(
                settle(changes, () => Effect.flatMap(guard.make, (g) => g.reconfigure(changes)))
              )
            }
          ),
          { numRuns: RUNS }
        )
      ))
  }
})

describe("configuration readers: random JSON", () => {
  const readers: ReadonlyArray<{ readonly name: string; readonly read: Effect.Effect<unknown, unknown, Scope.Scope> }> =
    [
      { name: "CircuitBreaker", read: Effect.flatMap(CircuitBreaker.config("g"), (o) => CircuitBreaker.make(o)) },
      { name: "RateLimiter", read: Effect.flatMap(RateLimiter.config("g"), RateLimiter.make) },
      { name: "Bulkhead", read: Effect.flatMap(Bulkhead.config("g"), Bulkhead.make) },
      { name: "TimeLimiter", read: Effect.flatMap(TimeLimiter.config("g"), TimeLimiter.make) },
      { name: "Retry", read: Effect.flatMap(Retry.config("g"), (o) => Retry.make(o)) },
      { name: "RetryBudget", read: Effect.flatMap(RetryBudget.config("g"), RetryBudget.make) },
      { name: "AdaptiveLimiter", read: Effect.flatMap(AdaptiveLimiter.config("g"), AdaptiveLimiter.make) },
      { name: "AdaptiveThrottler", read: Effect.flatMap(AdaptiveThrottler.config("g"), AdaptiveThrottler.make) },
      { name: "Hedge", read: Effect.flatMap(Hedge.config("g"), Hedge.make) },
      {
        name: "Chaos",
        read: Effect.flatMap(Chaos.config("g"), (s) => Chaos.make({ name: "c", fault: Chaos.latency(1), ...s }))
      },
      {
        name: "Registry",
        read: Effect.gen(function*() {
          const registry = yield* Registry.make(yield* Registry.config())
          yield* registry.circuitBreaker("g")
          yield* registry.rateLimiter("g")
          yield* registry.bulkhead("g")
          yield* registry.timeLimiter("g")
          yield* registry.retry("g")
          yield* registry.adaptiveLimiter("g")
          yield* registry.adaptiveThrottler("g")
          yield* registry.hedge("g")
        })
      }
    ]
  /**
   * Effect's `ConfigProvider.fromJson` loops forever on an array nested in an array (upstream bug,
   * Effect-TS/effect PR #5301, unmerged): such input is left out here, since no decoder of ours is
   * reached.
   */
  const nestedArray = (u: unknown, inArray = false): boolean =>
    Array.isArray(u)
      ? inArray || u.some((v) => nestedArray(v, true))
      : typeof u === "object" && u !== null && Object.values(u).some((v) => nestedArray(v, false))
  const jsonValue = () => FastCheck.jsonValue({ maxDepth: 4 }).filter((u) => !nestedArray(u))
  const fieldsOf = (name: string) => Object.keys(guards.find((g) => g.name === name)?.valid ?? {})
  /** Random JSON, often shaped like the real thing: `{ g: { knownField: value } }`. */
  const json = (name: string) =>
    FastCheck.oneof(
      // `fromJson` itself throws on a non-object (null, a number): the provider is never built.
      FastCheck.dictionary(FastCheck.string(), jsonValue()),
      FastCheck.record({
        g: FastCheck.dictionary(
          FastCheck.oneof(FastCheck.constantFrom("x", ...fieldsOf(name)), FastCheck.string()),
          jsonValue()
        )
      }),
      FastCheck.record({
        g: jsonValue(),
        circuitBreaker: jsonValue(),
        rateLimiter: FastCheck.record({ configs: jsonValue(), instances: jsonValue() }),
        bulkhead: FastCheck.record({
          configs: FastCheck.dictionary(
            FastCheck.string(),
            FastCheck.dictionary(FastCheck.constantFrom(...fieldsOf("Bulkhead")), jsonValue())
          ),
          instances: FastCheck.record({ g: FastCheck.record({ baseConfig: jsonValue() }) })
        })
      })
    )
  for (const reader of readers) {
    it.effect(`${reader.name}: config from random JSON gives a typed error or a guard`, () =>
      Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(json(reader.name), async (input) => {
            const provider = configFromJson(input)
            await Effect.runPromise(settle(input, () => withConfig(provider)(reader.read), true))
          }),
          { numRuns: RUNS, timeout: 3000 }
        )
      ))
  }
})

describe("configuration readers: found by the fuzzer", () => {
  // Seed -2005559834: Duration's comparison turned 1.8e302 ms into a nanosecond bigint and died.
  it.effect("RateLimiter: a period too long for nanoseconds gives a typed error or a guard", () =>
    Effect.gen(function*() {
      const input = { g: { limitRefreshPeriod: 1.797693134862316e+302 } }
      const exit = yield* Effect.exit(
        Effect.flatMap(RateLimiter.config("g"), RateLimiter.make).pipe(
          withConfig(configFromJson(input))
        )
      )
      expect(Exit.isSuccess(exit) || defectOf(exit.cause)._tag === "None").toBe(true)
    }).pipe(Effect.scoped))
})

describe("Registry: random specs", () => {
  it.effect("a random spec fails guard creation and reload with InvalidConfigError, never a defect", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          FastCheck.oneof(
            anything,
            FastCheck.record({
              circuitBreaker: FastCheck.record({
                configs: FastCheck.oneof(
                  anything,
                  FastCheck.dictionary(FastCheck.string(), FastCheck.dictionary(FastCheck.string(), nearMiss))
                ),
                instances: FastCheck.oneof(
                  anything,
                  FastCheck.record({
                    g: FastCheck.dictionary(FastCheck.constantFrom("baseConfig", "slidingWindowSize"), nearMiss)
                  })
                )
              }),
              bulkhead: anything,
              retry: FastCheck.record({ instances: FastCheck.record({ g: anything }) })
            })
          ),
          async (spec) => {
            await Effect.runPromise(settle(spec, () =>
              Effect.gen(function*() {
                const registry = yield* Registry.make(spec as Registry.Spec)
                yield* Effect.exit(registry.circuitBreaker("g")).pipe(Effect.flatMap((e) => e))
              })))
            await Effect.runPromise(settle(spec, () =>
              Effect.gen(function*() {
                const registry = yield* Registry.make({})
                yield* registry.circuitBreaker("g")
                yield* registry.retry("g")
                yield* registry.bulkhead("g")
                yield* registry.reload(spec as Registry.Spec)
              })))
          }
        ),
        { numRuns: RUNS * 2 }
      )
    ))
})
