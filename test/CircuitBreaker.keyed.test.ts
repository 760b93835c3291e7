/**
 * The keyed circuit breaker (Effect 4's `effect/persistence` CircuitBreaker serves many keys): per-key
 * isolation, idle expiry under TestClock, the `maxKeys` bound under a flood of distinct keys, and what a
 * full table of pinned keys does.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { forkChild } from "#port"
import { itScoped, TestClock, yieldNow } from "#test-port"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as Snapshot from "../src/observability/Snapshot.js"

const small = {
  name: "tenant",
  slidingWindowSize: 2,
  minimumNumberOfCalls: 2,
  waitDurationInOpenState: "30 seconds",
  permittedNumberOfCallsInHalfOpenState: 1
} as const

const boom = Effect.fail("boom")

describe("CircuitBreaker.keyed", () => {
  itScoped(
    "one key opening never refuses another key's calls; breakers are named name:key",
    () =>
      Effect.gen(function*() {
        const breakers = yield* CircuitBreaker.keyed(small)
        for (let i = 0; i < 2; i++) yield* Effect.exit(boom.pipe(breakers.withCircuitBreaker("acme")))
        const refused = yield* Effect.flip(Effect.succeed(1).pipe(breakers.withCircuitBreaker("acme")))
        expect(refused._tag).toBe("CallNotPermittedError")
        expect(refused._tag === "CallNotPermittedError" && refused.breakerName).toBe("tenant:acme")
        expect(yield* Effect.succeed(2).pipe(breakers.policy("globex"))).toBe(2)
        const snapshot = yield* Snapshot.ofGuards(yield* breakers.guards)
        expect(snapshot.guards.map((guard) => [guard.name, guard.state])).toEqual([
          ["tenant:acme", "Open"],
          ["tenant:globex", "Closed"]
        ])
      })
  )

  itScoped(
    "idle keys are dropped on use after idleTimeToLive; an Open key is kept until its wait ends",
    () =>
      Effect.gen(function*() {
        const breakers = yield* CircuitBreaker.keyed({ ...small, idleTimeToLive: "10 seconds" })
        for (let i = 0; i < 2; i++) yield* Effect.exit(boom.pipe(breakers.withCircuitBreaker("sick")))
        yield* Effect.succeed(1).pipe(breakers.withCircuitBreaker("idle"))
        yield* TestClock.adjust("10 seconds")
        yield* Effect.succeed(1).pipe(breakers.withCircuitBreaker("busy"))
        // "idle" expired; "sick" is still refusing, so it stays (forgetting it would let calls through).
        expect([...(yield* breakers.keys)].sort()).toEqual(["busy", "sick"])
        expect((yield* Effect.exit(Effect.succeed(1).pipe(breakers.withCircuitBreaker("sick"))))._tag).toBe("Failure")
        yield* TestClock.adjust("31 seconds")
        yield* Effect.succeed(1).pipe(breakers.withCircuitBreaker("busy"))
        yield* TestClock.adjust("10 seconds")
        yield* Effect.succeed(1).pipe(breakers.withCircuitBreaker("busy"))
        expect(yield* breakers.keys).toEqual(["busy"])
        expect((yield* breakers.metrics).evictedKeys).toBe(2)
      })
  )

  itScoped(
    "a flood of 5,000 distinct keys stays within maxKeys, evicting the least recently used",
    () =>
      Effect.gen(function*() {
        const breakers = yield* CircuitBreaker.keyed({ ...small, maxKeys: 100 })
        for (let i = 0; i < 5_000; i++) {
          yield* Effect.succeed(i).pipe(breakers.withCircuitBreaker(`attacker-${i}`))
        }
        const metrics = yield* breakers.metrics
        expect(metrics).toEqual({ keys: 100, maxKeys: 100, evictedKeys: 4_900, untrackedCalls: 0 })
        expect((yield* breakers.keys)[0]).toBe("attacker-4900")
        expect((yield* breakers.guards).length).toBe(100)
      })
  )

  itScoped(
    "a table full of Open keys runs a new key's call unguarded instead of refusing it",
    () =>
      Effect.gen(function*() {
        const breakers = yield* CircuitBreaker.keyed({ ...small, maxKeys: 3 })
        for (const key of ["a", "b", "c"]) {
          for (let i = 0; i < 2; i++) yield* Effect.exit(boom.pipe(breakers.withCircuitBreaker(key)))
        }
        expect(yield* Effect.succeed("served").pipe(breakers.withCircuitBreaker("d"))).toBe("served")
        expect(yield* breakers.metrics).toEqual({ keys: 3, maxKeys: 3, evictedKeys: 0, untrackedCalls: 1 })
        // Once a wait ends the key is evictable again and the new key gets its own breaker.
        yield* TestClock.adjust("30 seconds")
        yield* Effect.succeed(1).pipe(breakers.withCircuitBreaker("d"))
        expect(yield* breakers.keys).toEqual(["b", "c", "d"])
      })
  )

  itScoped("a key with a call in flight is never evicted", () =>
    Effect.gen(function*() {
      const breakers = yield* CircuitBreaker.keyed({ ...small, maxKeys: 1 })
      const release = yield* Deferred.make<void>()
      const slow = yield* forkChild(Deferred.await(release).pipe(breakers.withCircuitBreaker("slow")))
      yield* yieldNow
      yield* Effect.succeed(1).pipe(breakers.withCircuitBreaker("other"))
      expect(yield* breakers.keys).toEqual(["slow"])
      yield* Deferred.succeed(release, undefined)
      expect(yield* Fiber.await(slow)).toEqual(Exit.succeed(undefined))
      yield* Effect.succeed(1).pipe(breakers.withCircuitBreaker("other"))
      expect(yield* breakers.keys).toEqual(["other"])
      expect((yield* breakers.metrics).untrackedCalls).toBe(1)
    }))

  itScoped(
    "track runs in each key's scope, which ends when the key is dropped (bounded metric series)",
    () =>
      Effect.gen(function*() {
        const live = new Set<string>()
        const breakers = yield* CircuitBreaker.keyed({
          ...small,
          maxKeys: 2,
          track: (breaker) =>
            Effect.acquireRelease(
              Effect.sync(() => live.add(breaker.name)),
              () => Effect.sync(() => live.delete(breaker.name))
            )
        })
        for (const key of ["a", "b", "c", "d"]) yield* Effect.succeed(1).pipe(breakers.withCircuitBreaker(key))
        expect([...live].sort()).toEqual(["tenant:c", "tenant:d"])
      })
  )

  it.effect("bad options fail with InvalidConfigError naming the field, before any key", () =>
    Effect.gen(function*() {
      const bounds = yield* Effect.flip(Effect.scoped(CircuitBreaker.keyed({ name: "k", maxKeys: 0 })))
      expect(bounds.issues.map((issue) => issue.field)).toEqual(["maxKeys"])
      const idle = yield* Effect.flip(Effect.scoped(CircuitBreaker.keyed({ name: "k", idleTimeToLive: "0 millis" })))
      expect(idle.issues.map((issue) => issue.field)).toEqual(["idleTimeToLive"])
      const perKey = yield* Effect.flip(Effect.scoped(CircuitBreaker.keyed({ name: "k", failureRateThreshold: 0 })))
      expect(perKey.issues.map((issue) => issue.field)).toEqual(["failureRateThreshold"])
    }))
})
