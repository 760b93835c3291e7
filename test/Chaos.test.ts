import { failureOf, forkChild, isInterruptOnly, Service } from "#port"
import {
  configFromJson,
  FastCheck,
  itEffectProp,
  itScoped,
  pollFiber,
  TestClock,
  withConfig,
  withSeed
} from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Exit, Fiber, Layer, Option } from "effect"
import { InvalidConfigError } from "../src/errors/InvalidConfigError.js"
import * as Chaos from "../src/guards/Chaos.js"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as Retry from "../src/guards/Retry.js"
import * as Policy from "../src/shared/Policy.js"

class Unavailable extends Data.TaggedError("Unavailable") {}

/** Runs `n` guarded calls in sequence; returns which of them were hit (the call did not run). */
const hits = (chaos: Chaos.Chaos<Unavailable>, n: number) =>
  Effect.gen(function*() {
    const hit: Array<number> = []
    for (let i = 0; i < n; i++) {
      const exit = yield* Effect.exit(Chaos.withChaos(Effect.succeed(i), chaos))
      if (Exit.isFailure(exit)) hit.push(i)
    }
    return hit
  })

const seeded = (seed: number) => <A, E, R>(self: Effect.Effect<A, E, R>) => withSeed(seed)(self)

const configError = <A, R>(self: Effect.Effect<A, InvalidConfigError, R>) => Effect.flip(self)

describe("Chaos: what is injected", () => {
  it.effect("failure at rate 1 stands in for every call; the call does not run", () =>
    Effect.gen(function*() {
      let ran = 0
      const chaos = yield* Chaos.make({ name: "c", fault: Chaos.failure(new Unavailable()), rate: 1 })
      const exit = yield* Effect.exit(Chaos.withChaos(Effect.sync(() => ran++), chaos))
      expect(exit).toEqual(Exit.fail(new Unavailable()))
      expect(ran).toBe(0)
      expect(yield* chaos.metrics).toEqual({ numberOfCalls: 1, numberOfInjectedFaults: 1, rate: 1, enabled: true })
    }))

  it.effect("rate 0 never injects", () =>
    Effect.gen(function*() {
      const chaos = yield* Chaos.make({ name: "c", fault: Chaos.failure(new Unavailable()), rate: 0 })
      expect(yield* hits(chaos, 200)).toEqual([])
      expect((yield* chaos.metrics).numberOfCalls).toBe(200)
    }))

  it.effect("defect: the call dies with the given defect", () =>
    Effect.gen(function*() {
      const boom = new Error("socket hang up")
      const chaos = yield* Chaos.make({ name: "c", fault: Chaos.defect(boom), rate: 1 })
      const exit = yield* Effect.exit(Chaos.withChaos(Effect.succeed(1), chaos))
      expect(exit).toEqual(Exit.die(boom))
    }))

  it.effect("latency is slept on Clock, then the call runs", () =>
    Effect.gen(function*() {
      let ran = false
      const chaos = yield* Chaos.make({ name: "c", fault: Chaos.latency("2 seconds"), rate: 1 })
      const fiber = yield* forkChild(Chaos.withChaos(Effect.sync(() => (ran = true)), chaos))
      yield* TestClock.adjust("1999 millis")
      expect(Option.isNone(yield* pollFiber(fiber))).toBe(true)
      expect(ran).toBe(false)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe(true)
    }))

  it.effect("an infinite latency hangs the call until it is interrupted", () =>
    Effect.gen(function*() {
      const chaos = yield* Chaos.make({ name: "c", fault: Chaos.latency(Duration.infinity), rate: 1 })
      const fiber = yield* forkChild(Chaos.withChaos(Effect.succeed(1), chaos))
      yield* TestClock.adjust("365 days")
      expect(Option.isNone(yield* pollFiber(fiber))).toBe(true)
      yield* Fiber.interrupt(fiber)
      const interrupted = yield* Fiber.await(fiber)
      expect(Exit.isFailure(interrupted) && isInterruptOnly(interrupted.cause)).toBe(true)
    }))

  it.effect("result replaces the call's value; the call does not run", () =>
    Effect.gen(function*() {
      let ran = 0
      const chaos = yield* Chaos.make({ name: "c", fault: Chaos.result<ReadonlyArray<string>>([]), rate: 1 })
      const value = yield* Chaos.withChaos(Effect.sync((): ReadonlyArray<string> => [`${ran++}`]), chaos)
      expect(value).toEqual([])
      expect(ran).toBe(0)
    }))

  it.effect("behavior runs its side effect, then the call", () =>
    Effect.gen(function*() {
      const trace: Array<string> = []
      const chaos = yield* Chaos.make({
        name: "c",
        fault: Chaos.behavior(Effect.sync(() => trace.push("chaos"))),
        rate: 1
      })
      expect(yield* Chaos.withChaos(Effect.sync(() => trace.push("call")), chaos)).toBe(2)
      expect(trace).toEqual(["chaos", "call"])
    }))
})

describe("Chaos: rate, determinism and the switch", () => {
  it.effect("deterministic under a seeded Random: the same seed hits the same calls", () =>
    Effect.gen(function*() {
      const run = (seed: number) =>
        Effect.flatMap(
          Chaos.make({ name: "c", fault: Chaos.failure(new Unavailable()), rate: 0.3 }),
          (chaos) => hits(chaos, 300)
        ).pipe(seeded(seed))
      const first = yield* run(7)
      expect(yield* run(7)).toEqual(first)
      expect(yield* run(8)).not.toEqual(first)
    }))

  itEffectProp(
    "property: the share of calls hit is close to the rate (10,000 calls, any seed)",
    [FastCheck.integer(), FastCheck.double({ min: 0, max: 1, noNaN: true })],
    ([seed, rate]) =>
      Effect.gen(function*() {
        const chaos = yield* Chaos.make({ name: "c", fault: Chaos.failure(new Unavailable()), rate })
        const hit = yield* hits(chaos, 10_000).pipe(seeded(seed))
        // Binomial: 5 standard deviations (sqrt(n p (1-p)) <= 50) plus rounding.
        expect(Math.abs(hit.length - rate * 10_000)).toBeLessThanOrEqual(5 * 50 + 1)
        expect((yield* chaos.metrics).numberOfInjectedFaults).toBe(hit.length)
      }),
    { fastCheck: { numRuns: 15 } }
  )

  itEffectProp(
    "property: with one seed, the calls hit at a lower rate are a subset of those hit at a higher one",
    [
      FastCheck.integer(),
      FastCheck.double({ min: 0, max: 1, noNaN: true }),
      FastCheck.double({ min: 0, max: 1, noNaN: true })
    ],
    ([seed, a, b]) =>
      Effect.gen(function*() {
        const at = (rate: number) =>
          Effect.flatMap(
            Chaos.make({ name: "c", fault: Chaos.failure(new Unavailable()), rate }),
            (chaos) => hits(chaos, 300)
          ).pipe(seeded(seed))
        const low = yield* at(Math.min(a, b))
        const high = new Set(yield* at(Math.max(a, b)))
        expect(low.every((i) => high.has(i))).toBe(true)
      }),
    { fastCheck: { numRuns: 50 } }
  )

  it.effect("the switch flips at runtime; disabled, nothing is injected and the call runs", () =>
    Effect.gen(function*() {
      const chaos = yield* Chaos.make({ name: "c", fault: Chaos.failure(new Unavailable()), rate: 1, enabled: false })
      expect(yield* chaos.enabled).toBe(false)
      expect(yield* hits(chaos, 10)).toEqual([])
      yield* chaos.setEnabled(true)
      expect(yield* hits(chaos, 3)).toEqual([0, 1, 2])
      yield* chaos.reconfigure({ enabled: false })
      expect(yield* hits(chaos, 3)).toEqual([])
      yield* chaos.reconfigure({ enabled: true, rate: 0 })
      expect(yield* hits(chaos, 3)).toEqual([])
      expect(yield* chaos.metrics).toEqual({ numberOfCalls: 19, numberOfInjectedFaults: 3, rate: 0, enabled: true })
    }))

  it.effect("a bad change fails with InvalidConfigError and changes nothing", () =>
    Effect.gen(function*() {
      const chaos = yield* Chaos.make({ name: "c", fault: Chaos.failure(new Unavailable()), rate: 0.5 })
      const error = yield* configError(chaos.reconfigure({ rate: 2, enabled: "yes" as unknown as boolean }))
      expect(error.issues.map((i) => i.field).sort()).toEqual(["enabled", "rate"])
      expect(yield* chaos.metrics).toMatchObject({ rate: 0.5, enabled: true })
    }))

  it.effect("defaults: rate 1%, enabled", () =>
    Effect.gen(function*() {
      const chaos = yield* Chaos.make({ name: "c", fault: Chaos.latency(0) })
      expect(yield* chaos.metrics).toEqual({ numberOfCalls: 0, numberOfInjectedFaults: 0, rate: 0.01, enabled: true })
      expect(chaos.fault).toEqual({ _tag: "Latency", latency: 0 })
    }))
})

describe("Chaos: innermost in a composed policy", () => {
  itScoped("an injected outage opens the breaker; switched off, the breaker recovers", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "inventory",
        minimumNumberOfCalls: 10,
        slidingWindowSize: 10,
        waitDurationInOpenState: "10 seconds",
        permittedNumberOfCallsInHalfOpenState: 2
      })
      const retry = yield* Retry.make({ name: "inventory", maxAttempts: 2, waitDuration: 0 })
      const chaos = yield* Chaos.make({ name: "outage", fault: Chaos.failure(new Unavailable()), rate: 1 })
      const guard = Policy.compose(Retry.policy(retry), CircuitBreaker.policy(breaker), Chaos.policy(chaos))
      let reached = 0
      const call = Effect.sync(() => ++reached)
      for (let i = 0; i < 5; i++) yield* Effect.exit(guard(call))
      expect(yield* breaker.state).toBe("Open")
      expect(reached).toBe(0)
      expect((yield* chaos.metrics).numberOfInjectedFaults).toBe(10) // 5 calls x 2 attempts
      const refused = yield* Effect.exit(guard(call))
      expect(Exit.isFailure(refused) && failureOf(refused.cause).pipe(Option.getOrThrow)._tag).toBe(
        "CallNotPermittedError"
      )
      yield* chaos.setEnabled(false)
      yield* TestClock.adjust("10 seconds")
      yield* guard(call)
      yield* guard(call)
      expect(yield* breaker.state).toBe("Closed")
      expect(reached).toBe(2)
    }))

  itScoped("latency innermost under a seeded Random: only the hit calls are slow", () =>
    Effect.gen(function*() {
      const chaos = yield* Chaos.make({ name: "slow", fault: Chaos.latency("1 second"), rate: 0.5 })
      const fibers = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        (i) => forkChild(Policy.compose(Chaos.policy(chaos))(Effect.succeed(i))).pipe(seeded(99 + i))
      )
      yield* TestClock.adjust("1 millis")
      const fast = (yield* Effect.forEach(fibers, pollFiber)).filter(Option.isSome).length
      yield* TestClock.adjust("1 second")
      yield* Fiber.joinAll(fibers)
      const { numberOfInjectedFaults } = yield* chaos.metrics
      expect(fast).toBe(40 - numberOfInjectedFaults)
      expect(numberOfInjectedFaults).toBeGreaterThan(0)
      expect(numberOfInjectedFaults).toBeLessThan(40)
    }))
})

describe("Chaos: options", () => {
  it.effect("bad options fail with InvalidConfigError naming each field", () =>
    Effect.gen(function*() {
      const error = yield* configError(
        Chaos.make({ name: "", fault: { _tag: "Latency", latency: -5 }, rate: 1.5, enabled: 1 } as any)
      )
      expect(error).toBeInstanceOf(InvalidConfigError)
      expect(error.guard).toBe("Chaos")
      expect(error.issues.map((i) => i.field).sort()).toEqual(["enabled", "fault.latency", "name", "rate"])
      const unknown = yield* configError(Chaos.make({ name: "x", fault: { _tag: "Explode" } } as any))
      expect(unknown.issues.every((i) => i.field.startsWith("fault"))).toBe(true)
      const missing = yield* configError(Chaos.make({ name: "x" } as any))
      expect(missing.issues.map((i) => i.field)).toEqual(["fault"])
      const behavior = yield* configError(Chaos.make({ name: "x", fault: { _tag: "Behavior", effect: 1 } } as any))
      expect(behavior.issues.map((i) => [i.field, i.rule])).toEqual([["fault.effect", "expected an Effect"]])
    }))

  it.effect("layer, config and layerConfig: the settings from Config, the fault from code", () =>
    Effect.gen(function*() {
      class DbChaos extends Service<DbChaos, Chaos.Chaos>()("DbChaos") {}
      const provider = configFromJson({ chaos: { rate: 0.25, enabled: false } })
      const fromConfig = Chaos.layerConfig(DbChaos, Chaos.config("chaos"), { name: "db", fault: Chaos.latency(1) })
      const metrics = yield* Effect.flatMap(DbChaos, (c) => c.metrics).pipe(
        Effect.provide(fromConfig),
        withConfig(provider)
      )
      expect(metrics).toMatchObject({ rate: 0.25, enabled: false })
      const plain = yield* Effect.flatMap(DbChaos, (c) => c.metrics).pipe(
        Effect.provide(Chaos.layer(DbChaos, { name: "db", fault: Chaos.latency(1) }))
      )
      expect(plain).toMatchObject({ rate: 0.01, enabled: true })
      const bad = yield* Effect.flip(
        Effect.flatMap(DbChaos, (c) => c.metrics).pipe(
          Effect.provide(Layer.fresh(fromConfig)),
          withConfig(configFromJson({ chaos: { rate: 3 } }))
        )
      )
      expect(bad._tag).toBe("InvalidConfigError")
      const unreadable = yield* Effect.flip(
        Effect.flatMap(DbChaos, (c) => c.metrics).pipe(
          Effect.provide(Layer.fresh(fromConfig)),
          withConfig(configFromJson({ chaos: { enabled: "maybe" } }))
        )
      )
      expect(unreadable._tag).toBe("ConfigError")
    }))
})
