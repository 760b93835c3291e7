/**
 * The guards' option schemas, decoded directly (no guard `make`), on both Effect targets: the same
 * inputs must give the same decisions — the same defaults on good input, and on bad input an
 * `InvalidConfigError` naming the same fields, values and rules. The schemas are written once
 * (`src/guards/internal/*Config.ts`) over `#port`; only the decoder and the Config readers differ per
 * target. Runs on both targets (targets/effect4 `portedSuites`).
 */
import {
  decodeOptions,
  literals,
  Name,
  parseJson,
  readFields,
  restoreDefaults,
  stringConfig,
  toDuration,
  union
} from "#port"
import { configFromJson, FastCheck, targetMajor, withConfig } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Schedule, Schema } from "effect"
import type { Config } from "effect"
import { InvalidConfigError } from "../src/errors/InvalidConfigError.js"
import * as Adaptive from "../src/guards/internal/adaptiveConfig.js"
import * as BulkheadConfig from "../src/guards/internal/bulkheadConfig.js"
import * as ChaosConfig from "../src/guards/internal/chaosConfig.js"
import * as CircuitBreakerConfig from "../src/guards/internal/circuitBreakerConfig.js"
import * as RateLimiterConfig from "../src/guards/internal/rateLimiterConfig.js"
import * as RetryConfig from "../src/guards/internal/retryConfig.js"
import * as TimeLimiterConfig from "../src/guards/internal/timeLimiterConfig.js"

const schemas = {
  Bulkhead: BulkheadConfig.OptionsSchema,
  BulkheadChanges: BulkheadConfig.ChangesSchema,
  TimeLimiter: TimeLimiterConfig.OptionsSchema,
  TimeLimiterChanges: TimeLimiterConfig.ChangesSchema,
  Chaos: ChaosConfig.OptionsSchema,
  ChaosChanges: ChaosConfig.ChangesSchema,
  Retry: RetryConfig.RetryOptionsSchema,
  RetryBudget: RetryConfig.BudgetOptionsSchema,
  AdaptiveLimiter: Adaptive.LimiterOptionsSchema,
  AdaptiveLimiterChanges: Adaptive.LimiterChangesSchema,
  AdaptiveThrottler: Adaptive.ThrottlerOptionsSchema,
  AdaptiveThrottlerChanges: Adaptive.ThrottlerChangesSchema,
  Hedge: Adaptive.HedgeOptionsSchema,
  HedgeChanges: Adaptive.HedgeChangesSchema,
  RateLimiter: RateLimiterConfig.OptionsSchema,
  RateLimiterKeyed: RateLimiterConfig.KeyedOptionsSchema,
  CircuitBreaker: CircuitBreakerConfig.OptionsSchema
} as const

type Kind = keyof typeof schemas

// The schemas' types are each target's own; the decisions are what this file compares.
const decode = (kind: Kind, input: unknown): Effect.Effect<Record<string, unknown>, InvalidConfigError> =>
  decodeOptions(schemas[kind] as any, kind, input) as any

const issuesOf = (kind: Kind, input: unknown) =>
  Effect.map(Effect.flip(decode(kind, input)), (error) => {
    expect(error).toBeInstanceOf(InvalidConfigError)
    expect(error.guard).toBe(kind)
    return error.issues
  })

const at = (input: unknown, field: string): unknown =>
  field.split(".").reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], input)

const durationRule = "expected a non-negative duration (a Duration, milliseconds, or a string such as \"5 seconds\")"
const spaced = Schedule.spaced("1 second")

/** Bad options and the [field, rule] each must be refused with, in order; the value is the input's. */
const bad: ReadonlyArray<readonly [Kind, Record<string, unknown>, ReadonlyArray<readonly [string, string]>]> = [
  ["Bulkhead", { name: "b", maxConcurrentCalls: -1 }, [["maxConcurrentCalls", "must be a whole number >= 0"]]],
  ["Bulkhead", { name: "b", maxConcurrentCalls: 1.5, maxWaitDuration: "-1 seconds" }, [
    ["maxConcurrentCalls", "must be a whole number >= 0"],
    ["maxWaitDuration", durationRule]
  ]],
  ["Bulkhead", { name: "", maxWaitDuration: "soon" }, [["name", "must not be empty"], [
    "maxWaitDuration",
    durationRule
  ]]],
  ["Bulkhead", { maxConcurrentCalls: "3" }, [["name", "is missing"], [
    "maxConcurrentCalls",
    "Expected number, actual \"3\""
  ]]],
  ["Bulkhead", { name: "b", extra: 1 }, [["extra", "is not a known option"]]],
  ["BulkheadChanges", { name: "b", maxConcurrentCalls: -1 }, [["maxConcurrentCalls", "must be a whole number >= 0"]]],
  ["TimeLimiter", { name: "t", timeoutDuration: 0, cancelRunningCall: "yes" }, [
    ["timeoutDuration", "must be at least 1ms"],
    ["cancelRunningCall", "Expected boolean, actual \"yes\""]
  ]],
  ["TimeLimiter", { name: "t", timeoutDuration: Duration.nanos(10n) }, [["timeoutDuration", "must be at least 1ms"]]],
  ["TimeLimiterChanges", { name: "t", timeoutDuration: -5 }, [["timeoutDuration", durationRule]]],
  ["Chaos", { name: "c" }, [["fault", "is missing"]]],
  ["Chaos", { name: "c", fault: { _tag: "Latency", latency: -1 }, rate: 2 }, [
    ["fault.latency", durationRule],
    ["rate", "must be a probability in [0, 1] (0.01 = 1% of calls)"]
  ]],
  ["Chaos", { name: "c", fault: { _tag: "Behavior", effect: 1 } }, [["fault.effect", "expected an Effect"]]],
  ["Chaos", { name: "c", fault: { _tag: "Nope" } }, [[
    "fault._tag",
    "Expected \"Failure\" | \"Defect\" | \"Latency\" | \"Result\" | \"Behavior\", actual \"Nope\""
  ]]],
  ["ChaosChanges", { rate: -0.1 }, [["rate", "must be a probability in [0, 1] (0.01 = 1% of calls)"]]],
  ["Retry", { name: "r", maxAttempts: 0, retryOn: 1 }, [
    ["maxAttempts", "must be a whole number >= 1"],
    ["retryOn", "expected a function"]
  ]],
  ["Retry", { name: "r", waitDuration: "1 second", schedule: spaced }, [[
    "schedule",
    "cannot be combined with waitDuration: give one or the other"
  ]]],
  ["Retry", { name: "r", schedule: "often", budget: {} }, [
    ["schedule", "expected a Schedule"],
    ["budget", "expected a RetryBudget (from RetryBudget.make)"]
  ]],
  ["RetryBudget", { name: "b", ttl: "2 minutes", percentCanRetry: 5 }, [
    ["ttl", "must be at most 60 seconds"],
    ["percentCanRetry", "must be a fraction in [0, 1] (0.2 = 20%)"]
  ]],
  ["AdaptiveLimiter", { name: "a", algorithm: "vegas", backoffRatio: 0.1, isDrop: "x" }, [
    ["algorithm", "must be one of \"gradient\", \"aimd\""],
    ["backoffRatio", "must be a ratio in [0.5, 0.99]"],
    ["isDrop", "expected a function"]
  ]],
  ["AdaptiveLimiter", { name: "a", minLimit: 10, maxLimit: 5 }, [["maxLimit", "must be at least minLimit"]]],
  ["AdaptiveLimiter", { name: "a", initialLimit: 1, minLimit: 2 }, [["initialLimit", "must be at least minLimit"]]],
  ["AdaptiveLimiter", { name: "a", initialLimit: 300 }, [["initialLimit", "must be at most maxLimit"]]],
  ["AdaptiveLimiter", { name: "a", windowDuration: Infinity, tolerance: 0.5, timeout: 0 }, [
    ["timeout", "must be at least 1ms"],
    ["tolerance", "must be a finite number >= 1"],
    ["windowDuration", "must be finite"]
  ]],
  ["AdaptiveLimiterChanges", { name: "a", smoothing: 2, queueSize: -1 }, [
    ["smoothing", "must be a fraction in [0.01, 1]"],
    ["queueSize", "must be a finite number >= 0"]
  ]],
  ["AdaptiveThrottler", { name: "t", k: 0, window: "10 millis" }, [
    ["k", "must be a finite number >= 1"],
    ["window", "must be at least 1s"]
  ]],
  ["AdaptiveThrottlerChanges", { name: "t", window: Duration.infinity }, [["window", "must be finite"]]],
  ["Hedge", { name: "h", percentile: 100, sampleSize: 200_000, budget: 1 }, [
    ["percentile", "must be a percentile in (0, 100)"],
    ["sampleSize", "must be at most 100000"],
    ["budget", "expected a RetryBudget (from RetryBudget.make)"]
  ]],
  ["Hedge", { name: "h", minSamples: 50, sampleSize: 10 }, [["minSamples", "must be at most sampleSize"]]],
  ["HedgeChanges", { name: "h", delay: "forever", maxHedgedAttempts: -1 }, [
    ["delay", durationRule],
    ["maxHedgedAttempts", "must be a whole number >= 0"]
  ]],
  ["RateLimiter", { name: "l", limitForPeriod: 0, limitRefreshPeriod: 0, algorithm: "leaky" }, [
    ["limitForPeriod", "must be a whole number >= 1"],
    ["limitRefreshPeriod", "must be at least 1ns"],
    ["algorithm", "must be \"fixed-window\", \"token-bucket\" or \"sliding-window\""]
  ]],
  ["RateLimiter", { name: "l", onStoreFailure: "explode", timeoutDuration: "x" }, [
    ["timeoutDuration", durationRule],
    ["onStoreFailure", "must be one of \"fail-open\", \"fail-closed\", \"local-fallback\""]
  ]],
  ["RateLimiter", { name: "l", limitForPeriod: 5, fallbackLimitForPeriod: 10, capacity: 3 }, [
    ["fallbackLimitForPeriod", "must be at most limitForPeriod (it is a share of it)"],
    ["capacity", "only applies to the token-bucket algorithm"]
  ]],
  ["RateLimiter", { name: "l", algorithm: "token-bucket", limitRefreshPeriod: spaced }, [[
    "limitRefreshPeriod",
    "a Schedule is only supported by the fixed-window algorithm"
  ]]],
  ["RateLimiterKeyed", { name: "k", limitRefreshPeriod: "1 minute", idleTimeToLive: "1 second" }, [[
    "idleTimeToLive",
    "must be at least 1m (the time the limiter takes to forget its grants), or an idle key would get a fresh quota"
  ]]],
  ["RateLimiterKeyed", { name: "k", maxKeys: 0 }, [["maxKeys", "must be a whole number >= 1"]]],
  ["CircuitBreaker", { name: "cb", failureRateThreshold: 0, slowCallRateThreshold: 101 }, [
    ["failureRateThreshold", "must be a percentage in (0, 100]"],
    ["slowCallRateThreshold", "must be a percentage in (0, 100]"]
  ]],
  ["CircuitBreaker", { name: "cb", slidingWindowType: "SESSION", slidingWindowSize: 2_000_000 }, [
    ["slidingWindowType", "must be one of \"COUNT_BASED\", \"TIME_BASED\""],
    ["slidingWindowSize", "must be at most 1000000"]
  ]],
  ["CircuitBreaker", { name: "cb", waitDurationInOpenState: 0, maxRetryAfter: Infinity, recordError: true }, [
    ["waitDurationInOpenState", "must be at least 1ms"],
    ["maxRetryAfter", "must be finite"],
    ["recordError", "expected a function"]
  ]],
  ["CircuitBreaker", { name: "cb", transitionToStateAfterWaitDuration: "HalfOpen", onStoreFailure: 1 }, [
    ["transitionToStateAfterWaitDuration", "must be one of \"Open\", \"Closed\""],
    ["onStoreFailure", "must be one of \"fail-open\", \"fail-closed\", \"local-fallback\""]
  ]],
  ["CircuitBreaker", { name: "cb", automaticTransitionFromOpenToHalfOpenEnabled: "true", backoffReset: null }, [
    ["automaticTransitionFromOpenToHalfOpenEnabled", "Expected boolean, actual \"true\""],
    ["backoffReset", "must be one of \"on-close\", \"after-closed-as-long-as-open\""]
  ]]
]

describe(`option schemas, decoded directly (Effect ${targetMajor})`, () => {
  it.effect.each(bad.map(([kind, input, expected], i) => ({ kind, input, expected, i })))(
    "#$i $kind: refused, naming each field, its value and the rule",
    ({ expected, input, kind }) =>
      Effect.gen(function*() {
        const issues = yield* issuesOf(kind, input)
        expect(issues.map((i) => [i.field, i.rule])).toEqual(expected)
        for (const issue of issues) expect(issue.value).toBe(at(input, issue.field))
        const error = yield* Effect.flip(decode(kind, input))
        expect(error.guardName).toBe(typeof input.name === "string" ? input.name : "<unnamed>")
      })
  )

  it.effect("a value that is not a fault at all is refused at 'fault' on both (the expected shapes differ in wording)", () =>
    Effect.gen(function*() {
      const issues = yield* issuesOf("Chaos", { name: "c", fault: 3, enabled: "no" })
      expect(issues.map((i) => [i.field, i.value])).toEqual([["fault", 3], ["enabled", "no"]])
      expect(issues[0]!.rule).toMatch(/^Expected \{ readonly "?_tag"?: "Failure"[\s\S]*, actual 3$/)
      expect(issues[1]!.rule).toBe("Expected boolean, actual \"no\"")
    }))

  it.effect("good input: Resilience4j's (and the guards' own) defaults applied", () =>
    Effect.gen(function*() {
      expect(yield* decode("Bulkhead", { name: "b" })).toEqual({
        name: "b",
        maxConcurrentCalls: 25,
        maxWaitDuration: 0
      })
      expect(yield* decode("BulkheadChanges", { name: "b" })).toEqual({ name: "b" })
      expect(yield* decode("TimeLimiter", { name: "t" })).toEqual({
        name: "t",
        timeoutDuration: "1 second",
        cancelRunningCall: true
      })
      const latency = { _tag: "Latency", latency: "5 millis" }
      expect(yield* decode("Chaos", { name: "c", fault: latency })).toEqual({
        name: "c",
        fault: latency,
        rate: ChaosConfig.DEFAULT_RATE,
        enabled: true
      })
      expect(yield* decode("ChaosChanges", {})).toEqual({})
      const retry = yield* decode("Retry", { name: "r", schedule: spaced, retryOn: () => true })
      expect(retry).toMatchObject({ name: "r", maxAttempts: 3, failAfterMaxAttempts: false, retryRejections: false })
      expect(retry.schedule).toBe(spaced)
      expect(retry.waitDuration).toBeUndefined()
      expect(yield* decode("RetryBudget", { name: "b" })).toEqual({
        name: "b",
        ttl: "10 seconds",
        minRetriesPerSecond: 10,
        percentCanRetry: 0.2
      })
      const limiter = yield* decode("AdaptiveLimiter", { name: "a" })
      expect(limiter).toEqual({
        name: "a",
        algorithm: "gradient",
        minLimit: 1,
        maxLimit: 200,
        backoffRatio: 0.9,
        timeout: "5 seconds",
        smoothing: 0.2,
        tolerance: 1,
        queueSize: 4,
        baselineWindows: 600,
        windowDuration: "1 second",
        minWindowSamples: 10,
        maxWaitDuration: 0
      })
      expect(Adaptive.initialLimitOf(limiter as any)).toBe(20)
      expect(yield* decode("AdaptiveLimiterChanges", { name: "a", maxLimit: 7 })).toEqual({ name: "a", maxLimit: 7 })
      expect(yield* decode("AdaptiveThrottler", { name: "t" })).toEqual({ name: "t", k: 2, window: "2 minutes" })
      expect(yield* decode("Hedge", { name: "h" })).toEqual({
        name: "h",
        delay: "100 millis",
        maxHedgedAttempts: 1,
        sampleSize: 100,
        minSamples: 20
      })
      expect(yield* decode("RateLimiter", { name: "l" })).toEqual({
        name: "l",
        limitForPeriod: 50,
        limitRefreshPeriod: Duration.nanos(500n),
        timeoutDuration: "5 seconds",
        algorithm: "fixed-window"
      })
      const keyed = yield* decode("RateLimiterKeyed", {
        name: "k",
        limitRefreshPeriod: "1 second",
        idleTimeToLive: 1000
      })
      expect(keyed).toMatchObject({ maxKeys: 100_000, idleTimeToLive: 1000 })
      expect(RateLimiterConfig.forgetMillis(keyed as any)).toBe(1000)
      expect(RateLimiterConfig.forgetMillis({ ...keyed, algorithm: "token-bucket", capacity: 100 } as any)).toBe(2000)
      expect(yield* decode("RateLimiter", { name: "l", limitRefreshPeriod: spaced })).toMatchObject({
        limitRefreshPeriod: spaced
      })
      expect(yield* decode("CircuitBreaker", { name: "cb" })).toEqual({
        name: "cb",
        failureRateThreshold: 50,
        slowCallRateThreshold: 100,
        slowCallDurationThreshold: "60 seconds",
        slidingWindowType: "COUNT_BASED",
        slidingWindowSize: 100,
        minimumNumberOfCalls: 100,
        permittedNumberOfCallsInHalfOpenState: 10,
        maxWaitDurationInHalfOpenState: 0,
        transitionToStateAfterWaitDuration: "Open",
        waitDurationInOpenState: "60 seconds",
        automaticTransitionFromOpenToHalfOpenEnabled: false,
        backoffReset: "on-close",
        maxRetryAfter: "1 hour"
      })
    }))

  it.effect("explicit undefined means the default, as an absent key does", () =>
    Effect.gen(function*() {
      expect(yield* decode("Bulkhead", { name: "b", maxConcurrentCalls: undefined })).toMatchObject({
        maxConcurrentCalls: 25
      })
      const restored = restoreDefaults({ maxConcurrentCalls: undefined, maxWaitDuration: 5 }, {
        maxConcurrentCalls: 25
      })
      expect(restored).toEqual({ maxConcurrentCalls: 25, maxWaitDuration: 5 })
    }))

  it.effect("configuration: text converted only when it has the form, so the Schema names a bad value", () =>
    Effect.gen(function*() {
      const read = <K extends string>(fields: Record<K, (name: string) => Config.Config<unknown>>, json: unknown) =>
        Effect.gen(function*() {
          return yield* readFields(fields)
        }).pipe(withConfig(configFromJson(json)))
      const bulkhead = yield* read(BulkheadConfig.configFields, {
        maxConcurrentCalls: "12",
        maxWaitDuration: "2 seconds"
      })
      expect(bulkhead).toEqual({ maxConcurrentCalls: 12, maxWaitDuration: "2 seconds" })
      const badBulkhead = yield* read(BulkheadConfig.configFields, { maxConcurrentCalls: "many" })
      expect((yield* issuesOf("Bulkhead", { name: "b", ...badBulkhead })).map((i) => [i.field, i.value, i.rule]))
        .toEqual([["maxConcurrentCalls", "many", "Expected number, actual \"many\""]])
      const time = yield* read(TimeLimiterConfig.configFields, { cancelRunningCall: " FALSE " })
      expect(time).toEqual({ cancelRunningCall: false })
      const breaker = yield* read(CircuitBreakerConfig.configFields, {
        slidingWindowType: "TIME_BASED",
        automaticTransitionFromOpenToHalfOpenEnabled: "true",
        failureRateThreshold: "2.5e1"
      })
      expect(breaker).toEqual({
        slidingWindowType: "TIME_BASED",
        automaticTransitionFromOpenToHalfOpenEnabled: true,
        failureRateThreshold: 25
      })
      expect(yield* read(RateLimiterConfig.configFields, { algorithm: "token-bucket" })).toEqual({
        algorithm: "token-bucket"
      })
      expect(yield* read(RetryConfig.retryConfigFields, { maxAttempts: "4", retryRejections: "maybe" })).toEqual({
        maxAttempts: 4,
        retryRejections: "maybe"
      })
      expect(yield* read(Adaptive.hedgeConfigFields, {})).toEqual({})
    }))

  it.effect("Chaos's settings are read strictly: an unreadable value is a ConfigError, a bad one an InvalidConfigError", () =>
    Effect.gen(function*() {
      const read = (json: unknown) =>
        Effect.gen(function*() {
          return yield* readFields(ChaosConfig.configFields)
        }).pipe(withConfig(configFromJson(json)))
      expect(yield* read({ rate: "0.25", enabled: "false" })).toEqual({ rate: 0.25, enabled: false })
      const rate = yield* read({ rate: 3 })
      expect((yield* issuesOf("ChaosChanges", rate)).map((i) => i.field)).toEqual(["rate"])
      for (const json of [{ enabled: "maybe" }, { rate: "abc" }]) {
        const exit = yield* Effect.exit(read(json))
        expect(Exit.isFailure(exit)).toBe(true)
        const error = yield* Effect.flip(read(json))
        expect((error as { readonly _tag: string })._tag).toBe("ConfigError")
      }
      const text = yield* Effect.gen(function*() {
        return yield* stringConfig("mode")
      }).pipe(withConfig(configFromJson({ mode: "on" })))
      expect(text).toBe("on")
    }))

  it("the vocabulary's other combinators decide alike: literals, union, parseJson, declare via Name", () => {
    const Mode = literals("a", "b")
    expect(Schema.is(Mode)("a")).toBe(true)
    expect(Schema.is(Mode)("c")).toBe(false)
    const Either = union(Schema.Number, Name)
    expect(Schema.is(Either)(1)).toBe(true)
    expect(Schema.is(Either)("x")).toBe(true)
    expect(Schema.is(Either)(true)).toBe(false)
    const Json = parseJson(Schema.Struct({ n: Schema.Number }))
    expect(Schema.decodeUnknownSync(Json as any)("{\"n\":1}")).toEqual({ n: 1 })
    expect(() => Schema.decodeUnknownSync(Json as any)("{\"n\":\"x\"}")).toThrow()
    expect(Duration.toMillis(toDuration("2 seconds"))).toBe(2000)
  })

  it.effect("random input: always a result or an InvalidConfigError naming fields, never a defect", () =>
    Effect.gen(function*() {
      const kinds = Object.keys(schemas) as Array<Kind>
      const field = FastCheck.oneof(
        FastCheck.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withNullPrototype: true }),
        FastCheck.constantFrom(-1, 0, 0.5, 1, 100, 101, 1e9, Infinity, -Infinity, NaN, -0),
        FastCheck.constantFrom("", "-1 seconds", "1 fortnight", "5 seconds", "1e400 millis", "Infinity"),
        FastCheck.constantFrom(null, undefined, true, {}, [], () => true, spaced, Duration.infinity)
      )
      const cases = FastCheck.sample(
        FastCheck.tuple(
          FastCheck.constantFrom(...kinds),
          FastCheck.dictionary(
            FastCheck.constantFrom(
              "name",
              "maxConcurrentCalls",
              "maxWaitDuration",
              "timeoutDuration",
              "fault",
              "rate",
              "ttl",
              "schedule",
              "waitDuration",
              "minLimit",
              "maxLimit",
              "initialLimit",
              "window",
              "delay",
              "sampleSize",
              "limitRefreshPeriod",
              "algorithm",
              "capacity",
              "idleTimeToLive",
              "failureRateThreshold",
              "waitDurationInOpenState",
              "maxRetryAfter"
            ),
            field
          )
        ),
        { numRuns: 400, seed: 17 }
      )
      for (const [kind, input] of cases) {
        const exit = yield* Effect.exit(decode(kind, input))
        if (Exit.isSuccess(exit)) continue
        const error = yield* Effect.flip(decode(kind, input))
        expect(error).toBeInstanceOf(InvalidConfigError)
        expect(error.issues.length).toBeGreaterThan(0)
        for (const issue of error.issues) expect(issue.field.length).toBeGreaterThan(0)
        expect(typeof error.message).toBe("string")
      }
    }))
})
