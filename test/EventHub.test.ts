import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Option, Scope, Stream } from "effect"
// Runs on both Effect targets: the hub and the lazy scope use the runtime port (`#port`), which this
// file checks too, so that a port entry that behaves differently on one target fails here first.
import {
  callback,
  completeNow,
  currentFiberSpan,
  defectOf,
  durationOf,
  failureOf,
  forkChild,
  forkDetach,
  interruptNow,
  isInterruptOnly,
  scopeProvide
} from "#port"
import { itScoped, yieldNow } from "#test-port"
import { retryAfterField } from "../src/shared/internal/errors.js"
import { EVENT_BUFFER, EventHub, makeEventHub } from "../src/shared/internal/eventHub.js"
import { LazyScope } from "../src/shared/internal/lazyScope.js"

/** A stream's elements as an array (a `Chunk` on Effect 3, an array on Effect 4). */
const collect = <A>(stream: Stream.Stream<A>) =>
  Effect.map(Stream.runCollect(stream), (all) => Array.from(all as Iterable<A>))

describe("EventHub", () => {
  itScoped(
    "builds nothing until someone subscribes; a subscriber receives what is published after",
    () =>
      Effect.gen(function*() {
        const hub = yield* makeEventHub<number>()
        expect(hub.subscribers).toBe(0)
        expect(hub.listening).toBe(false)
        hub.unsafeOffer(0) // nobody listens: dropped, and no buffer is made for it
        const events = yield* hub.subscribed
        expect(hub.subscribers).toBe(1)
        hub.unsafeOffer(1)
        yield* hub.publish(2)
        expect(yield* collect(Stream.take(events, 2))).toEqual([1, 2])
      })
  )

  itScoped(
    "a rare subscription is counted apart: the hub is listening, but per-call events need a full one",
    () =>
      Effect.gen(function*() {
        const hub = yield* makeEventHub<string>()
        yield* hub.rareSubscription
        expect(hub.rareSubscribers).toBe(1)
        expect(hub.subscribers).toBe(0)
        expect(hub.listening).toBe(true)
      })
  )

  it.effect("a subscription ends with its scope (the counts go back down)", () =>
    Effect.gen(function*() {
      const hub = yield* Effect.scoped(makeEventHub<number>())
      yield* Effect.scoped(hub.subscription)
      expect(hub.subscribers).toBe(0)
    }))

  itScoped(
    "closing the guard's scope ends every stream (what was not read is dropped); later ones are empty",
    () =>
      Effect.gen(function*() {
        const guardScope = yield* Scope.make()
        const hub = yield* scopeProvide(makeEventHub<number>(), guardScope)
        const events = yield* hub.subscribed
        hub.unsafeOffer(7)
        yield* Scope.close(guardScope, Exit.void)
        expect(yield* collect(events)).toEqual([])
        expect(yield* collect(yield* hub.subscribed)).toEqual([])
      })
  )

  itScoped("`stream` subscribes when it starts and ends when the hub shuts down", () =>
    Effect.gen(function*() {
      const hub = yield* makeEventHub<number>()
      const fiber = yield* forkChild(collect(hub.stream))
      while (hub.subscribers === 0) yield* yieldNow
      yield* hub.publish(1)
      yield* hub.shutdown
      expect(yield* Fiber.join(fiber)).toEqual([1])
    }))

  itScoped(
    "a full buffer slides the oldest event out for `publish`, and drops the new one for `unsafeOffer`",
    () =>
      Effect.gen(function*() {
        const hub = yield* makeEventHub<number>()
        const events = yield* hub.subscribed
        for (let i = 0; i < EVENT_BUFFER; i++) hub.unsafeOffer(i)
        hub.unsafeOffer(-1) // full: dropped
        yield* hub.publish(EVENT_BUFFER) // full: slides 0 out
        const received = yield* collect(Stream.take(events, EVENT_BUFFER))
        expect(received.length).toBe(EVENT_BUFFER)
        expect(received[0]).toBe(1)
        expect(received.at(-1)).toBe(EVENT_BUFFER)
        expect(received).not.toContain(-1)
      })
  )

  itScoped("`changes` starts with the current value, then each value an event carries", () =>
    Effect.gen(function*() {
      const hub = yield* makeEventHub<{ readonly to?: string }>()
      let state = "Closed"
      const changes = yield* hub.subscribedChanges(
        () => state,
        (event) => event.to === undefined ? Option.none() : Option.some(event.to)
      )
      state = "Open"
      hub.unsafeOffer({ to: "Open" })
      hub.unsafeOffer({}) // carries no value: skipped
      hub.unsafeOffer({ to: "HalfOpen" })
      expect(yield* collect(Stream.take(changes, 3))).toEqual(["Closed", "Open", "HalfOpen"])
    }))

  itScoped("a hub over a lazy scope forks that scope only on the first subscription", () =>
    Effect.gen(function*() {
      const lazy = new LazyScope(yield* Effect.scope)
      const hub = new EventHub<number>(lazy)
      expect((lazy as unknown as { readonly child: unknown }).child).toBeUndefined()
      const events = yield* hub.subscribed
      expect((lazy as unknown as { readonly child: unknown }).child).toBeDefined()
      hub.unsafeOffer(3)
      expect(yield* collect(Stream.take(events, 1))).toEqual([3])
      yield* lazy.close // shuts the hub down (its finalizer is in the child)
      expect(yield* collect(yield* hub.subscribed)).toEqual([])
    }))
})

describe("LazyScope", () => {
  itScoped(
    "forks one child on demand, closes it with `close`; a child asked for after `close` is closed",
    () =>
      Effect.gen(function*() {
        const lazy = new LazyScope(yield* Effect.scope)
        const first = yield* lazy.scope
        expect(yield* lazy.scope).toBe(first)
        const closed: Array<string> = []
        yield* Scope.addFinalizer(first, Effect.sync(() => closed.push("first")))
        yield* lazy.close
        expect(closed).toEqual(["first"])

        const late = new LazyScope(yield* Effect.scope)
        yield* late.close
        const child = yield* late.scope
        yield* Scope.addFinalizer(child, Effect.sync(() => closed.push("late")))
        expect(closed).toEqual(["first", "late"]) // added to a closed scope: runs at once
      })
  )

  itScoped("a child closes with its parent", () =>
    Effect.gen(function*() {
      const parent = yield* Scope.make()
      const lazy = new LazyScope(parent)
      const closed: Array<string> = []
      yield* Scope.addFinalizer(yield* lazy.scope, Effect.sync(() => closed.push("child")))
      yield* Scope.close(parent, Exit.void)
      expect(closed).toEqual(["child"])
    }))
})

describe("the runtime port", () => {
  it("durationOf reads durations and leaves other values, objects included, as none", () => {
    expect(Option.map(durationOf(1500), Duration.toMillis)).toEqual(Option.some(1500))
    expect(Option.map(durationOf("2 seconds"), Duration.toMillis)).toEqual(Option.some(2000))
    expect(Option.map(durationOf(Duration.minutes(1)), Duration.toMillis)).toEqual(Option.some(60_000))
    expect(Option.isNone(durationOf("soon"))).toBe(true)
    expect(Option.isNone(durationOf(undefined))).toBe(true)
    expect(Option.isNone(durationOf({ seconds: 3 }))).toBe(true)
    expect(Option.isNone(durationOf({ step: () => 0, initial: 0 }))).toBe(true)
  })

  it("retryAfterField reads an Option<Duration> hint, none otherwise", () => {
    expect(Option.map(retryAfterField({ retryAfter: Option.some(Duration.seconds(2)) }), Duration.toMillis))
      .toEqual(Option.some(2000))
    expect(Option.isNone(retryAfterField({ retryAfter: Option.none() }))).toBe(true)
    expect(Option.isNone(retryAfterField({ retryAfter: 5 }))).toBe(true)
    expect(Option.isNone(retryAfterField(null))).toBe(true)
  })

  it.effect("failureOf, defectOf and isInterruptOnly read a cause", () =>
    Effect.gen(function*() {
      const failed = Cause.fail("boom")
      const died = Cause.die("bug")
      const exit = yield* Effect.exit(Effect.interrupt)
      const interrupted = Exit.isFailure(exit) ? exit.cause : Cause.empty
      expect(failureOf(failed)).toEqual(Option.some("boom"))
      expect(Option.isNone(failureOf(died))).toBe(true)
      expect(defectOf(died)).toEqual(Option.some("bug"))
      expect(Option.isNone(defectOf(failed))).toBe(true)
      expect(isInterruptOnly(interrupted)).toBe(true)
      expect(isInterruptOnly(failed)).toBe(false)
    }))

  it.effect("callback resumes with what its callback is given; completeNow completes a deferred at once", () =>
    Effect.gen(function*() {
      expect(yield* callback<number>((resume) => resume(Effect.succeed(42)))).toBe(42)
      const deferred = yield* Deferred.make<string>()
      completeNow(deferred, Effect.succeed("done"))
      expect(yield* Deferred.await(deferred)).toBe("done")
    }))

  it.effect("forkDetach runs a fiber that interruptNow stops without waiting", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const fiber = yield* forkDetach(Effect.andThen(Deferred.succeed(started, undefined), Effect.never))
      yield* Deferred.await(started)
      interruptNow(fiber)
      const exit = yield* Fiber.await(fiber)
      expect(Exit.isFailure(exit) && isInterruptOnly(exit.cause)).toBe(true)
    }))

  it.effect("currentFiberSpan is the running fiber's span, inside `withSpan`, and nothing outside", () =>
    Effect.gen(function*() {
      expect(yield* Effect.sync(currentFiberSpan)).toBeUndefined()
      const span = yield* Effect.sync(currentFiberSpan).pipe(Effect.withSpan("outer"))
      expect(span?._tag).toBe("Span")
      expect(span !== undefined && span._tag === "Span" ? span.name : undefined).toBe("outer")
    }))
})
