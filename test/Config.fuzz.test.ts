/**
 * Bad input: every options and configuration decoder, fed random values (fast-check's `anything`, with
 * bigints, dates, maps, boxed values and null prototypes; random JSON for configuration) and targeted
 * mutations of valid options. Always a typed error (InvalidConfigError, or ConfigError for unreadable
 * configuration) that names the offending field, and a message that can be printed: never a throw,
 * never a defect.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  AdaptiveLimiter,
  AdaptiveThrottler,
  Bulkhead,
  Chaos,
  CircuitBreaker,
  Hedge,
  InvalidConfigError,
  RateLimiter,
  Registry,
  Retry,
  RetryBudget,
  TimeLimiter
} from "breakwater"
import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
import { Cause, ConfigProvider, Effect, Exit, FastCheck as fc, Schedule, type Scope } from "effect"

/** Values a user (or a YAML file, or a bug) could hand over. */
const anything = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true
})

/** Plausible-looking wrong values for option fields, so decoders get past the first check. */
const nearMiss = fc.oneof(
  anything,
  fc.constantFrom(-1, 0, 0.5, 1, 100, 101, 1e9, Infinity, -Infinity, NaN, -0, Number.MAX_SAFE_INTEGER + 2),
  fc.constantFrom("", " ", "-1 seconds", "1 fortnight", "5 seconds", "0 millis", "1e400 millis", "Infinity"),
  fc.constantFrom(-1n, 0n, 10n ** 30n, [1, 0], [-1, 0], [0, -1], [1.5, 2], [Infinity, 0], [NaN, NaN]),
  fc.constantFrom(null, undefined, true, false, {}, [], () => true, Symbol("s"), Schedule.spaced("1 second"))
)

type Outcome = "ok" | "typed"

/**
 * Runs a decoder to its exit: success or a failure with InvalidConfigError/ConfigError; anything
 * else (a throw, a defect, another error) fails the test with the input that caused it.
 */
const settle = (
  input: unknown,
  build: () => Effect.Effect<unknown, unknown, Scope.Scope>,
  allowConfigError = false
): Effect.Effect<{ outcome: Outcome; error?: InvalidConfigError }> =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Effect.scoped(Effect.suspend(build)))
    if (Exit.isSuccess(exit)) return { outcome: "ok" as const }
    const failure = Cause.failureOption(exit.cause)
    if (failure._tag === "None") {
      throw new Error(`defect or interruption for input ${safe(input)}: ${Cause.pretty(exit.cause)}`)
    }
    const error = failure.value
    if (allowConfigError && typeof error === "object" && error !== null && (error as any)._tag === "ConfigError") {
      return { outcome: "typed" as const }
    }
    if (!(error instanceof InvalidConfigError)) {
      throw new Error(`untyped failure for input ${safe(input)}: ${String(error)}`)
    }
    expect(error.issues.length).toBeGreaterThan(0)
    for (const issue of error.issues) {
      expect(typeof issue.field).toBe("string")
      expect(issue.field.length).toBeGreaterThan(0)
      expect(typeof issue.rule).toBe("string")
    }
    expect(typeof error.message).toBe("string") // printing the error never throws
    return { outcome: "typed" as const, error }
  })

const safe = (u: unknown) => {
  try {
    return fc.stringify(u)
  } catch {
    return String(u)
  }
}

/** Each guard: its make, a valid base, and the fields to mutate. */
const guards: ReadonlyArray<{
  readonly name: string
  readonly make: (options: any) => Effect.Effect<unknown, unknown, Scope.Scope>
  readonly valid: Record<string, unknown>
  /** Cross-field rules: a bad value of the key may be reported against these fields instead. */
  readonly partners?: Record<string, ReadonlyArray<string>>
}> = [
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
  },
  {
    name: "ResilientHttpClient",
    make: (o) => ResilientHttpClient.make(o),
    valid: {
      name: "http",
      maxTargets: 10,
      idleTimeToLive: "1 minute",
      attemptTimeout: "1 second",
      totalTimeout: "5 seconds",
      retryMethods: ["GET"],
      retryStatuses: [503],
      circuitBreaker: { minimumNumberOfCalls: 5 },
      rateLimiter: { limitForPeriod: 5 },
      retry: { maxAttempts: 2 },
      retryBudget: { percentCanRetry: 0.1 }
    },
    partners: { totalTimeout: ["attemptTimeout"] }
  },
  {
    name: "RateLimitMiddleware",
    make: (o) => RateLimitMiddleware.make(o),
    valid: {
      name: "api",
      limitForPeriod: 10,
      limitRefreshPeriod: "1 second",
      key: "ip",
      apiKeyHeader: "x-api-key",
      trustProxy: 1,
      trustedProxies: ["10.0.0.0/8", "::1"],
      ipv6Prefix: 56,
      maxKeys: 100,
      maxKeyLength: 64,
      maxConcurrentRequests: 5,
      maxConcurrentRequestsPerKey: 2,
      requestBodyTimeout: "10 seconds",
      maxRoutes: 10
    },
    partners: { algorithm: ["limiter.capacity", "limiter.limitRefreshPeriod", "limiter.algorithm"] }
  }
]

const RUNS = 150

describe("option decoders: random input", () => {
  for (const guard of guards) {
    it.effect(`${guard.name}.make: any value at all gives a typed error or a guard`, () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(anything, async (input) => {
            await Effect.runPromise(settle(input, () => guard.make(input)))
          }),
          { numRuns: RUNS }
        )
      ))

    it.effect(`${guard.name}.make: a record of random fields (named or not) is refused field by field`, () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.dictionary(fc.oneof(fc.constantFrom(...Object.keys(guard.valid)), fc.string()), nearMiss),
            async (input) => {
              await Effect.runPromise(settle(input, () => guard.make({ name: "fuzz", ...input })))
            }
          ),
          { numRuns: RUNS }
        )
      ))

    it.effect(`${guard.name}.make: one mutated field of valid options is named when refused`, () =>
      Effect.promise(async () => {
        // The base itself must be valid.
        const base = await Effect.runPromise(settle(guard.valid, () => guard.make(guard.valid)))
        expect(base.outcome).toBe("ok")
        await fc.assert(
          fc.asyncProperty(fc.constantFrom(...Object.keys(guard.valid)), nearMiss, async (key, value) => {
            const input = { ...guard.valid, [key]: value }
            const { error, outcome } = await Effect.runPromise(settle(input, () => guard.make(input)))
            if (outcome === "ok") return
            const named = [key, ...(guard.partners?.[key] ?? [])]
            const fields = error!.issues.map((i) => i.field)
            const hit = fields.some((f) => named.some((n) => f === n || f.startsWith(`${n}.`)))
            if (!hit) throw new Error(`${key} = ${safe(value)} reported as ${fields.join(", ")}`)
          }),
          { numRuns: RUNS * 2 }
        )
      }))
  }
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
        fc.assert(
          fc.asyncProperty(
            fc.dictionary(fc.oneof(fc.constantFrom(...guard.keys), fc.string()), nearMiss),
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
  const jsonValue = () => fc.jsonValue({ maxDepth: 4 }).filter((u) => !nestedArray(u))
  const fieldsOf = (name: string) => Object.keys(guards.find((g) => g.name === name)?.valid ?? {})
  /** Random JSON, often shaped like the real thing: `{ g: { knownField: value } }`. */
  const json = (name: string) =>
    fc.oneof(
      // `fromJson` itself throws on a non-object (null, a number): the provider is never built.
      fc.dictionary(fc.string(), jsonValue()),
      fc.record({ g: fc.dictionary(fc.oneof(fc.constantFrom("x", ...fieldsOf(name)), fc.string()), jsonValue()) }),
      fc.record({
        g: jsonValue(),
        circuitBreaker: jsonValue(),
        rateLimiter: fc.record({ configs: jsonValue(), instances: jsonValue() }),
        bulkhead: fc.record({
          configs: fc.dictionary(fc.string(), fc.dictionary(fc.constantFrom(...fieldsOf("Bulkhead")), jsonValue())),
          instances: fc.record({ g: fc.record({ baseConfig: jsonValue() }) })
        })
      })
    )
  for (const reader of readers) {
    it.effect(`${reader.name}: config from random JSON gives a typed error or a guard`, () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(json(reader.name), async (input) => {
            const provider = ConfigProvider.fromJson(input)
            await Effect.runPromise(settle(input, () => Effect.withConfigProvider(reader.read, provider), true))
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
          Effect.withConfigProvider(ConfigProvider.fromJson(input))
        )
      )
      expect(Exit.isSuccess(exit) || Cause.dieOption(exit.cause)._tag === "None").toBe(true)
    }).pipe(Effect.scoped))
})

describe("Registry: random specs", () => {
  it.effect("a random spec fails guard creation and reload with InvalidConfigError, never a defect", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.oneof(
            anything,
            fc.record({
              circuitBreaker: fc.record({
                configs: fc.oneof(anything, fc.dictionary(fc.string(), fc.dictionary(fc.string(), nearMiss))),
                instances: fc.oneof(
                  anything,
                  fc.record({ g: fc.dictionary(fc.constantFrom("baseConfig", "slidingWindowSize"), nearMiss) })
                )
              }),
              bulkhead: anything,
              retry: fc.record({ instances: fc.record({ g: anything }) })
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
