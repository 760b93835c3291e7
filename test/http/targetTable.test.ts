/** The client's target table alone: eviction order, expiry, and the edge cases of building. */
import { currentClock, forkChild, scopeProvide } from "#port"
import { itScoped, TestClock, yieldNow } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { isRefusing } from "../../src/core/breakerRefusal.js"
import * as CircuitBreaker from "../../src/guards/CircuitBreaker.js"
import { MAX_SKIPPED, TargetTable } from "../../src/http/internal/targetTable.js"

/** A table whose targets record when they are closed. */
const tableOf = (
  capacity: number,
  idleMillis: number,
  build?: (key: string) => Effect.Effect<string>,
  pinned?: (key: string) => boolean
) =>
  Effect.gen(function*() {
    const closed: Array<string> = []
    const clock = yield* currentClock
    const table = new TargetTable<string>(
      capacity,
      idleMillis,
      clock,
      (key) =>
        Effect.andThen(
          Effect.addFinalizer(() => Effect.sync(() => closed.push(key))),
          build === undefined ? Effect.succeed(key) : build(key)
        ),
      pinned === undefined ? undefined : (key) => pinned(key)
    )
    yield* table.start()
    return { table, closed }
  })

const use = (table: TargetTable<string>, key: string) =>
  Effect.flatMap(
    table.acquire(key),
    (lease) => lease === undefined ? Effect.succeed(undefined) : Effect.as(table.release(lease), lease.value)
  )

describe("TargetTable", () => {
  itScoped("evicts the least recently used idle entry, never a busy one", () =>
    Effect.gen(function*() {
      const { table, closed } = yield* tableOf(2, 60_000)
      yield* use(table, "a")
      yield* use(table, "b")
      yield* use(table, "a") // b is now the least recently used
      yield* use(table, "c")
      expect(closed).toEqual(["b"])
      expect(table.keys()).toEqual(["a", "c"])
      const held = (yield* table.acquire("a"))!
      const other = (yield* table.acquire("c"))!
      expect(yield* table.acquire("d")).toBeUndefined() // both busy: nothing to evict
      yield* table.release(held)
      yield* table.release(other)
      expect(yield* use(table, "d")).toBe("d")
      expect(closed).toEqual(["b", "a"])
    }))

  itScoped("closes idle entries after their time to live, and at once when it is 0", () =>
    Effect.gen(function*() {
      const { table, closed } = yield* tableOf(10, 1000)
      yield* use(table, "a")
      yield* TestClock.adjust("600 millis")
      yield* use(table, "b")
      yield* TestClock.adjust("650 millis") // a expired; the sweep (every 250 ms) closed it
      expect(closed).toEqual(["a"])
      expect(table.size).toBe(1)
      const zero = yield* tableOf(10, 0)
      yield* use(zero.table, "x")
      expect(zero.closed).toEqual(["x"])
      expect(zero.table.size).toBe(0)
    }))

  itScoped(
    "a second caller waits for the entry being built; a build that dies leaves nothing",
    () =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const { table } = yield* tableOf(
          10,
          1000,
          (key) => key === "boom" ? Effect.die("no") : Effect.as(Deferred.await(gate), key)
        )
        const first = yield* forkChild(use(table, "slow"))
        const second = yield* forkChild(use(table, "slow"))
        yield* yieldNow
        yield* Deferred.succeed(gate, undefined)
        expect([yield* Fiber.join(first), yield* Fiber.join(second)]).toEqual(["slow", "slow"])
        const died = yield* Effect.exit(use(table, "boom"))
        expect(Exit.isFailure(died)).toBe(true)
        expect(table.keys()).toEqual(["slow"])
      })
  )

  it.effect("closing the scope closes every entry; a closed table builds nothing", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { table, closed } = yield* scopeProvide(tableOf(10, Number.POSITIVE_INFINITY), scope)
      yield* use(table, "a")
      yield* Scope.close(scope, Exit.void)
      expect(closed).toEqual(["a"])
      expect(yield* table.acquire("b")).toBeUndefined()
    }))

  itScoped(
    "never evicts nor expires a pinned target (breaker refusing, Retry-After pause)",
    () =>
      Effect.gen(function*() {
        const pins = new Set(["sick"])
        const { table, closed } = yield* tableOf(2, 1000, undefined, (key) => pins.has(key))
        yield* use(table, "sick")
        yield* use(table, "b")
        yield* use(table, "c") // the table is full: b goes, sick (older) stays
        expect(closed).toEqual(["b"])
        expect(table.keys()).toEqual(["sick", "c"])
        yield* TestClock.adjust("1500 millis") // both past their time to live: only c is closed
        expect(closed).toEqual(["b", "c"])
        expect(table.keys()).toEqual(["sick"])
        pins.delete("sick") // its wait is over: an ordinary idle target again
        yield* TestClock.adjust("1500 millis")
        expect(closed).toEqual(["b", "c", "sick"])
        const zero = yield* tableOf(10, 0, undefined, (key) => key === "paused")
        yield* use(zero.table, "paused")
        yield* use(zero.table, "x")
        expect(zero.closed).toEqual(["x"]) // no time to live, but a pinned target stays
        expect(zero.table.keys()).toEqual(["paused"])
      })
  )

  itScoped(
    "an eviction steps over at most MAX_SKIPPED pinned targets, and not the same ones twice",
    () =>
      Effect.gen(function*() {
        const pins = new Set<string>()
        const capacity = MAX_SKIPPED + 11
        const { table, closed } = yield* tableOf(capacity, 60_000, undefined, (key) => pins.has(key))
        let scans = 0
        const counting = (key: string) => {
          scans++
          return pins.has(key)
        }
        // MAX_SKIPPED + 1 pinned targets at the front, 10 evictable ones behind them.
        for (let i = 0; i <= MAX_SKIPPED; i++) {
          pins.add(`p${i}`)
          yield* use(table, `p${i}`)
        }
        for (let i = 0; i < 10; i++) yield* use(table, `idle${i}`)
        ;(table as unknown as { pinned: (key: string) => boolean }).pinned = counting
        expect(yield* table.acquire("new1")).toBeUndefined() // bounded scan: gave up, one-call target
        expect(scans).toBe(MAX_SKIPPED + 1)
        expect(closed).toEqual([])
        scans = 0
        expect(yield* use(table, "new2")).toBe("new2") // the pinned ones moved back: idle0 is first now
        expect(scans).toBe(1)
        expect(closed).toEqual(["idle0"])
        expect(table.size).toBe(capacity)
      })
  )

  itScoped(
    "the refusal probe: Open before its wait ends and ForcedOpen refuse; unknown objects never",
    () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "probe", waitDurationInOpenState: "1 second" })
        expect(isRefusing(breaker, 0)).toBe(false)
        yield* breaker.transitionToOpen
        expect(isRefusing(breaker, 500)).toBe(true)
        expect(isRefusing(breaker, 1_000)).toBe(false) // its wait is over: a trial may go
        yield* breaker.transitionToForcedOpen
        expect(isRefusing(breaker, Number.MAX_SAFE_INTEGER)).toBe(true)
        expect(isRefusing({}, 0)).toBe(false) // e.g. a breaker shared through a Store: dropping it forgets nothing
      })
  )
})
