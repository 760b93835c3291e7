import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Option, Ref, Stream } from "effect"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { failureOf, forkChild, isInterruptOnly, Service } from "#port"
import { configFromJson, itScoped, pollFiber, targetMajor, TestClock, withConfig, yieldNow } from "#test-port"
import { InvalidConfigError } from "../src/errors/InvalidConfigError.js"
import * as Bulkhead from "../src/guards/Bulkhead.js"

// ---- helpers -------------------------------------------------------------------------------------

/** Lets forked fibers (callers, event subscribers) run up to their next wait. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 10; i++) yield* yieldNow
})

const advance = (millis: number) => TestClock.adjust(Duration.millis(millis))

/** A call that holds its slot until released; `started` tells when it began running. */
const holder = Effect.gen(function*() {
  const started = yield* Deferred.make<void>()
  const release = yield* Deferred.make<void>()
  const call = Effect.andThen(Deferred.succeed(started, undefined), Deferred.await(release))
  return { started, release, call, done: Deferred.succeed(release, undefined) }
})

/** Forks `self` through the bulkhead and waits until it is running (or queued/refused). */
const start = <A, E>(bulkhead: Bulkhead.Bulkhead, self: Effect.Effect<A, E>) =>
  Effect.tap(forkChild(Bulkhead.withBulkhead(self, bulkhead)), () => settle)

const available = (bulkhead: Bulkhead.Bulkhead) => Effect.map(bulkhead.metrics, (m) => m.availableConcurrentCalls)

/** Subscribes to the bulkhead's events for the rest of the test's scope. */
const recordEvents = (bulkhead: Bulkhead.Bulkhead) =>
  Effect.gen(function*() {
    const seen: Array<Bulkhead.Event> = []
    yield* Effect.forkScoped(Stream.runForEach(bulkhead.events, (e) => Effect.sync(() => seen.push(e))))
    yield* settle
    return Effect.andThen(settle, Effect.sync(() => seen.map((e) => `${e._tag}@${e.at}`)))
  })

/** Ended by an interruption alone. */
const interrupted = (exit: Exit.Exit<unknown, unknown>) => Exit.isFailure(exit) && isInterruptOnly(exit.cause)

/** The metrics of the bulkhead a layer provides under `tag`. */
const metricsOf = <I>(tag: Effect.Effect<Bulkhead.Bulkhead, never, I>) =>
  Effect.flatMap(tag, (bulkhead) => bulkhead.metrics)

const isFull = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && Option.exists(failureOf(exit.cause), (e) => e instanceof Bulkhead.BulkheadFullError)

// ---- options and admission -----------------------------------------------------------------------

describe("Bulkhead", () => {
  itScoped(
    "defaults to Resilience4j's 25 concurrent calls and refuses at once when full",
    () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "db" })
        expect(yield* bulkhead.metrics).toEqual({ availableConcurrentCalls: 25, maxAllowedConcurrentCalls: 25 })
        const { call, done } = yield* holder
        const fibers = yield* Effect.forEach(Array.from({ length: 25 }), () => start(bulkhead, call))
        expect(yield* available(bulkhead)).toBe(0)
        const refused = yield* Effect.exit(Bulkhead.withBulkhead(Effect.succeed(1), bulkhead))
        expect(isFull(refused)).toBe(true)
        yield* done
        yield* Fiber.joinAll(fibers)
        expect(yield* available(bulkhead)).toBe(25)
      })
  )

  itScoped("runs the call and returns its value", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 2 })
      expect(yield* Bulkhead.withBulkhead(Effect.succeed(42), bulkhead)).toBe(42)
      expect(yield* Effect.succeed("piped").pipe(Bulkhead.withBulkhead(bulkhead))).toBe("piped")
      expect(yield* Bulkhead.policy(bulkhead)(Effect.succeed("policy"))).toBe("policy")
    }))

  itScoped(
    "refuses with a BulkheadFullError carrying the name, the limit and no retry hint",
    () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1 })
        const { call } = yield* holder
        yield* start(bulkhead, call)
        const error = yield* Effect.flip(Bulkhead.withBulkhead(Effect.succeed(1), bulkhead))
        expect(error).toBeInstanceOf(Bulkhead.BulkheadFullError)
        expect(error._tag).toBe("BulkheadFullError")
        expect(error.bulkheadName).toBe("db")
        expect(error.maxConcurrentCalls).toBe(1)
        expect(Option.isNone(error.retryAfter)).toBe(true)
        expect(error.message).toBe("Bulkhead 'db' is full and does not permit further calls")
      })
  )

  itScoped("maxConcurrentCalls 0 refuses every call without running it", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "off", maxConcurrentCalls: 0 })
      const ran = yield* Ref.make(false)
      const exit = yield* Effect.exit(Bulkhead.withBulkhead(Ref.set(ran, true), bulkhead))
      expect(isFull(exit)).toBe(true)
      expect(yield* Ref.get(ran)).toBe(false)
    }))

  itScoped("admits waiters in arrival order (FIFO) as slots free", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1, maxWaitDuration: "1 minute" })
      const order = yield* Ref.make<ReadonlyArray<number>>([])
      const { call, done } = yield* holder
      const first = yield* start(bulkhead, call)
      const waiters = yield* Effect.forEach([1, 2, 3, 4], (id) =>
        start(bulkhead, Effect.andThen(Ref.update(order, (o) => [...o, id]), Effect.sleep("10 millis"))))
      expect(yield* Ref.get(order)).toEqual([])
      yield* done
      yield* Fiber.join(first)
      yield* settle
      for (let i = 0; i < 4; i++) {
        yield* advance(10)
        yield* settle
      }
      yield* Fiber.joinAll(waiters)
      expect(yield* Ref.get(order)).toEqual([1, 2, 3, 4])
      expect(yield* available(bulkhead)).toBe(1)
    }))

  itScoped("a new call does not barge past waiters when a slot frees", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1, maxWaitDuration: "1 minute" })
      const order = yield* Ref.make<ReadonlyArray<string>>([])
      const note = (id: string) => Ref.update(order, (o) => [...o, id])
      // The holder gives its slot back and, in the same step, a newcomer arrives: the waiter goes first.
      const waiter = yield* Effect.gen(function*() {
        const { call, done } = yield* holder
        yield* start(bulkhead, call)
        const waiter = yield* start(bulkhead, note("waiter"))
        yield* done
        return waiter
      })
      const newcomer = yield* forkChild(Bulkhead.withBulkhead(note("newcomer"), bulkhead))
      yield* Fiber.join(waiter)
      yield* Fiber.join(newcomer)
      expect(yield* Ref.get(order)).toEqual(["waiter", "newcomer"])
    }))

  itScoped("a waiter whose maxWaitDuration elapses is refused and leaves the queue", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1, maxWaitDuration: "100 millis" })
      const { call, done } = yield* holder
      const first = yield* start(bulkhead, call)
      const ran = yield* Ref.make(false)
      const waiter = yield* start(bulkhead, Ref.set(ran, true))
      yield* advance(99)
      expect(yield* pollFiber(waiter)).toEqual(Option.none())
      yield* advance(1)
      const exit = yield* Fiber.await(waiter)
      expect(isFull(exit)).toBe(true)
      yield* done
      yield* Fiber.join(first)
      expect(yield* Ref.get(ran)).toBe(false)
      expect(yield* available(bulkhead)).toBe(1)
      // The queue is empty again: the next call runs at once.
      expect(yield* Bulkhead.withBulkhead(Effect.succeed("next"), bulkhead)).toBe("next")
    }))

  itScoped(
    "a waiter admitted before its wait elapses runs, and the expired timer does nothing",
    () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1, maxWaitDuration: "100 millis" })
        const { call, done } = yield* holder
        const first = yield* start(bulkhead, call)
        const waiter = yield* start(bulkhead, Effect.as(Effect.sleep("200 millis"), "late but admitted"))
        yield* advance(50)
        yield* done
        yield* Fiber.join(first)
        yield* settle
        yield* advance(200)
        expect(yield* Fiber.join(waiter)).toBe("late but admitted")
        expect(yield* available(bulkhead)).toBe(1)
      })
  )

  itScoped("an infinite maxWaitDuration waits as long as it takes", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1, maxWaitDuration: Duration.infinity })
      const { call, done } = yield* holder
      yield* start(bulkhead, call)
      const waiter = yield* start(bulkhead, Effect.succeed("finally"))
      yield* advance(Duration.toMillis("365 days"))
      expect(yield* pollFiber(waiter)).toEqual(Option.none())
      yield* done
      expect(yield* Fiber.join(waiter)).toBe("finally")
    }))

  itScoped("metrics report free slots and the limit while calls run", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 3 })
      const { call, done } = yield* holder
      const a = yield* start(bulkhead, call)
      const b = yield* start(bulkhead, call)
      expect(yield* bulkhead.metrics).toEqual({ availableConcurrentCalls: 1, maxAllowedConcurrentCalls: 3 })
      yield* done
      yield* Fiber.joinAll([a, b])
      expect(yield* bulkhead.metrics).toEqual({ availableConcurrentCalls: 3, maxAllowedConcurrentCalls: 3 })
    }))

  itScoped("publishes CallPermitted, CallRejected and CallFinished with the Clock time", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1, maxWaitDuration: "10 millis" })
      const events = yield* recordEvents(bulkhead)
      yield* advance(5)
      yield* Bulkhead.withBulkhead(Effect.void, bulkhead)
      yield* Effect.exit(Bulkhead.withBulkhead(Effect.fail("boom"), bulkhead))
      const { call, done } = yield* holder
      const held = yield* start(bulkhead, call)
      const waiter = yield* start(bulkhead, Effect.void)
      yield* advance(10)
      expect(isFull(yield* Fiber.await(waiter))).toBe(true)
      yield* done
      yield* Fiber.join(held)
      expect(yield* events).toEqual([
        "CallPermitted@5",
        "CallFinished@5",
        "CallPermitted@5",
        "CallFinished@5",
        "CallPermitted@5",
        "CallRejected@15",
        "CallFinished@15"
      ])
    }))

  itScoped("events name the bulkhead", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "named", maxConcurrentCalls: 0 })
      const received = yield* forkChild(
        Stream.runCollect(Stream.take(bulkhead.events, 1)).pipe(Effect.map((all) => Array.from(all)))
      )
      yield* settle
      yield* Effect.exit(Bulkhead.withBulkhead(Effect.void, bulkhead))
      const [event] = yield* Fiber.join(received)
      expect(event).toEqual(Bulkhead.Event.CallRejected({ bulkheadName: "named", at: 0 }))
    }))

  // ---- permits are returned on every exit path ------------------------------------------------------

  describe("returns the slot on every exit", () => {
    const exits = {
      success: Effect.succeed(1),
      failure: Effect.fail("boom"),
      defect: Effect.die("bug"),
      interruption: Effect.interrupt
    } as const

    for (const [name, self] of Object.entries(exits)) {
      itScoped(name, () =>
        Effect.gen(function*() {
          const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1 })
          yield* Effect.exit(Bulkhead.withBulkhead(self as Effect.Effect<unknown, unknown>, bulkhead))
          expect(yield* available(bulkhead)).toBe(1)
          expect(yield* Bulkhead.withBulkhead(Effect.succeed("again"), bulkhead)).toBe("again")
        }))
    }

    itScoped("interruption while running", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1 })
        const finalized = yield* Ref.make(false)
        const running = yield* start(bulkhead, Effect.onInterrupt(Effect.never, () => Ref.set(finalized, true)))
        expect(yield* available(bulkhead)).toBe(0)
        yield* Fiber.interrupt(running)
        expect(yield* Ref.get(finalized)).toBe(true)
        expect(yield* available(bulkhead)).toBe(1)
      }))

    itScoped("interruption while waiting neither leaks nor steals a slot", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1, maxWaitDuration: "1 minute" })
        const { call, done } = yield* holder
        const held = yield* start(bulkhead, call)
        const ran = yield* Ref.make<ReadonlyArray<string>>([])
        const interrupted = yield* start(bulkhead, Ref.update(ran, (r) => [...r, "interrupted"]))
        const patient = yield* start(bulkhead, Ref.update(ran, (r) => [...r, "patient"]))
        yield* Fiber.interrupt(interrupted)
        expect(yield* available(bulkhead)).toBe(0) // the holder still has it
        yield* done
        yield* Fiber.join(held)
        yield* Fiber.join(patient)
        expect(yield* Ref.get(ran)).toEqual(["patient"])
        expect(yield* available(bulkhead)).toBe(1)
      }))

    itScoped("interruption right after being admitted, before running", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1, maxWaitDuration: "1 minute" })
        const ran = yield* Ref.make(false)
        // This fiber holds the slot; on leaving, the slot is handed to the waiter, which is then
        // interrupted in the same step, before it could run.
        const waiter = yield* Bulkhead.withBulkhead(
          Effect.tap(forkChild(Bulkhead.withBulkhead(Ref.set(ran, true), bulkhead)), () => settle),
          bulkhead
        )
        yield* Fiber.interrupt(waiter)
        yield* settle
        // Effect 4 runs a woken fiber before its waker's next step, so there the interruption lands
        // after the admitted call has run; either way the slot comes back.
        if (targetMajor === 3) expect(yield* Ref.get(ran)).toBe(false)
        expect(yield* available(bulkhead)).toBe(1)
        expect(yield* Bulkhead.withBulkhead(Effect.succeed("free"), bulkhead)).toBe("free")
      }))

    itScoped("an uninterruptible caller waits for its slot regardless", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1, maxWaitDuration: "1 minute" })
        const { call, done } = yield* holder
        const held = yield* start(bulkhead, call)
        const ran = yield* Ref.make(false)
        const waiter = yield* forkChild(Effect.uninterruptible(Bulkhead.withBulkhead(Ref.set(ran, true), bulkhead)))
        yield* settle
        const interruption = yield* forkChild(Fiber.interrupt(waiter))
        yield* settle
        expect(yield* Ref.get(ran)).toBe(false)
        yield* done
        yield* Fiber.join(held)
        yield* Fiber.join(interruption)
        // The interruption takes effect once the uninterruptible region (the whole call) is over.
        expect(interrupted(yield* Fiber.await(waiter))).toBe(true)
        expect(yield* Ref.get(ran)).toBe(true)
        expect(yield* available(bulkhead)).toBe(1)
      }))
  })

  // ---- reconfiguration -----------------------------------------------------------------------------

  describe("reconfigure", () => {
    itScoped("raising maxConcurrentCalls admits waiters at once", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1, maxWaitDuration: "1 minute" })
        const { call, done } = yield* holder
        const held = yield* start(bulkhead, call)
        const waiters = yield* Effect.forEach([1, 2], () => start(bulkhead, call))
        expect(yield* bulkhead.metrics).toEqual({ availableConcurrentCalls: 0, maxAllowedConcurrentCalls: 1 })
        yield* bulkhead.reconfigure({ maxConcurrentCalls: 4 })
        yield* settle
        expect(yield* bulkhead.metrics).toEqual({ availableConcurrentCalls: 1, maxAllowedConcurrentCalls: 4 })
        yield* done
        yield* Fiber.joinAll([held, ...waiters])
        expect(yield* available(bulkhead)).toBe(4)
      }))

    itScoped(
      "lowering maxConcurrentCalls interrupts nothing; new calls wait for the running ones",
      () =>
        Effect.gen(function*() {
          const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 3 })
          const holders = yield* Effect.forEach([1, 2, 3], () => holder)
          const running = yield* Effect.forEach(holders, (h) => start(bulkhead, h.call))
          yield* bulkhead.reconfigure({ maxConcurrentCalls: 1 })
          expect(yield* bulkhead.metrics).toEqual({ availableConcurrentCalls: 0, maxAllowedConcurrentCalls: 1 })
          for (const fiber of running) expect(Option.isNone(yield* pollFiber(fiber))).toBe(true)
          yield* holders[0]!.done
          yield* holders[1]!.done
          yield* Fiber.joinAll(running.slice(0, 2))
          // Still one running: at the new limit.
          const refused = yield* Effect.exit(Bulkhead.withBulkhead(Effect.void, bulkhead))
          expect(isFull(refused)).toBe(true)
          expect((yield* Effect.flip(Bulkhead.withBulkhead(Effect.void, bulkhead))).maxConcurrentCalls).toBe(1)
          yield* holders[2]!.done
          yield* Fiber.join(running[2]!)
          expect(yield* bulkhead.metrics).toEqual({ availableConcurrentCalls: 1, maxAllowedConcurrentCalls: 1 })
        })
    )

    itScoped("a new maxWaitDuration applies to calls that start waiting afterwards", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 1 })
        const { call, done } = yield* holder
        const held = yield* start(bulkhead, call)
        yield* bulkhead.reconfigure({ maxWaitDuration: "1 second" })
        const waiter = yield* start(bulkhead, Effect.succeed("waited"))
        yield* advance(500)
        yield* done
        yield* Fiber.join(held)
        expect(yield* Fiber.join(waiter)).toBe("waited")
        yield* bulkhead.reconfigure({ maxWaitDuration: 0 })
        const second = yield* holder
        yield* start(bulkhead, second.call)
        expect(isFull(yield* Effect.exit(Bulkhead.withBulkhead(Effect.void, bulkhead)))).toBe(true)
      }))

    itScoped("rejects bad values with InvalidConfigError and changes nothing", () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 2 })
        const error = yield* Effect.flip(
          bulkhead.reconfigure({ maxConcurrentCalls: -1, maxWaitDuration: "-1 seconds" })
        )
        expect(error).toBeInstanceOf(InvalidConfigError)
        expect(error.guardName).toBe("db")
        expect(error.issues.map((i) => i.field).sort()).toEqual(["maxConcurrentCalls", "maxWaitDuration"])
        expect(yield* bulkhead.metrics).toEqual({ availableConcurrentCalls: 2, maxAllowedConcurrentCalls: 2 })
      }))
  })

  // ---- configuration -------------------------------------------------------------------------------

  describe("options", () => {
    it.effect("bad options fail with InvalidConfigError naming field, value and rule", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(Bulkhead.make({
          name: "db",
          maxConcurrentCalls: 2.5,
          maxWaitDuration: "-5 seconds"
        })))
        expect(error.guard).toBe("Bulkhead")
        expect(error.guardName).toBe("db")
        expect(error.issues).toEqual([
          { field: "maxConcurrentCalls", value: 2.5, rule: "must be a whole number >= 0" },
          expect.objectContaining({ field: "maxWaitDuration", value: "-5 seconds" })
        ])
        expect(error.message).toContain("maxConcurrentCalls = 2.5: must be a whole number >= 0")
      }))

    it.effect("an empty name, a negative limit and unknown options are refused", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(Bulkhead.make({
          name: "",
          maxConcurrentCalls: -1,
          maxConcurrentcalls: 3
        } as Bulkhead.Options)))
        expect(error.issues.map((i) => [i.field, i.rule])).toEqual(
          expect.arrayContaining([
            ["name", "must not be empty"],
            ["maxConcurrentCalls", "must be a whole number >= 0"],
            ["maxConcurrentcalls", "is not a known option"]
          ])
        )
      }))

    it.effect("layer provides a bulkhead for a tag and fails on bad options", () =>
      Effect.gen(function*() {
        class Db extends Service<Db, Bulkhead.Bulkhead>()("Db") {}
        const metrics = yield* metricsOf(Db).pipe(
          Effect.provide(Bulkhead.layer(Db, { name: "db", maxConcurrentCalls: 7 }))
        )
        expect(metrics.maxAllowedConcurrentCalls).toBe(7)
        const error = yield* Effect.flip(
          Effect.provide(Db, Bulkhead.layer(Db, { name: "db", maxConcurrentCalls: -7 }))
        )
        expect(error._tag).toBe("InvalidConfigError")
      }))

    it.effect("config reads the options under a namespace; layerConfig builds from it", () =>
      Effect.gen(function*() {
        class Db extends Service<Db, Bulkhead.Bulkhead>()("Db") {}
        const provider = configFromJson({ db: { maxConcurrentCalls: 3, maxWaitDuration: "50 millis" } })
        const options = yield* withConfig(provider)(Bulkhead.config("db"))
        expect(options).toEqual({ name: "db", maxConcurrentCalls: 3, maxWaitDuration: "50 millis" })
        const defaults = yield* withConfig(configFromJson({}))(Bulkhead.config("db"))
        expect(defaults).toEqual({ name: "db" })

        const read = yield* metricsOf(Db).pipe(
          Effect.provide(Bulkhead.layerConfig(Db, Bulkhead.config("db"))),
          withConfig(provider)
        )
        expect(read.maxAllowedConcurrentCalls).toBe(3)
        const overridden = yield* metricsOf(Db).pipe(
          Effect.provide(Bulkhead.layerConfig(Db, Bulkhead.config("db"), { maxConcurrentCalls: 9 })),
          withConfig(provider)
        )
        expect(overridden.maxAllowedConcurrentCalls).toBe(9)
        const bad = yield* Effect.flip(
          metricsOf(Db).pipe(
            Effect.provide(Bulkhead.layerConfig(Db, Bulkhead.config("db"))),
            withConfig(configFromJson({ db: { maxConcurrentCalls: -2 } }))
          )
        )
        expect(bad._tag).toBe("InvalidConfigError")
        expect(bad._tag === "InvalidConfigError" && bad.issues[0]!.field).toBe("maxConcurrentCalls")
      }))

    it.effect("a value of the wrong kind is an InvalidConfigError naming the field", () =>
      Effect.gen(function*() {
        class Db extends Service<Db, Bulkhead.Bulkhead>()("Db") {}
        const error = yield* Effect.flip(
          metricsOf(Db).pipe(
            Effect.provide(Bulkhead.layerConfig(Db, Bulkhead.config("db"))),
            withConfig(configFromJson({ db: { maxConcurrentCalls: "many" } }))
          )
        )
        expect(error._tag).toBe("InvalidConfigError")
        expect(error._tag === "InvalidConfigError" && error.issues.map((i) => i.field)).toEqual(["maxConcurrentCalls"])
      }))

    itScoped("the Clock is read for event times, in millis", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(1_000)
        const bulkhead = yield* Bulkhead.make({ name: "db" })
        const events = yield* recordEvents(bulkhead)
        yield* Bulkhead.withBulkhead(Effect.void, bulkhead)
        expect(yield* events).toEqual(["CallPermitted@1000", "CallFinished@1000"])
      }))
  })
})
