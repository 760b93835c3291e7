/**
 * Every guard's events in one place: one merged `Stream` for the guards of a `Registry` (those
 * created later included), each event tagged with its guard's kind and name and stamped with `Clock`
 * time, and a {@link Recorder} that keeps the most recent events of each guard in a bounded ring for
 * late readers (Resilience4j's event consumer buffer).
 *
 * ## When to use
 * To log or alert on what guards do (a breaker opening, a limiter refusing), or to show an operator
 * the last transitions and refusals of a guard on a status page.
 *
 * ## Gotchas
 * - Cost: a guard builds per-call events (a successful call, an acquired permit) only while a full
 *   subscriber listens, and that makes every guarded call slower (see BENCHMARKS.md). By default the
 *   {@link Recorder} and `stream(registry, { calls: false })` subscribe to the rare events only
 *   (transitions, rate-exceeded, refusals, timeouts, retries), which guards publish without that cost.
 * - A guard created after the subscription is followed from the next fiber turn after its creation.
 * - A reader that falls more than 1,024 events behind loses the oldest.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Events, Registry } from "breakwater"
 *
 * const logRefusals = (registry: Registry.Registry) =>
 *   Events.stream(registry, { calls: false }).pipe(
 *     Stream.runForEach((e) => Effect.logWarning(`${e.kind} ${e.name}: ${e.event._tag} at ${e.at}`))
 *   )
 * ```
 *
 * @since 0.1.0
 */
import { closeQueue, offerNow, queueStream, slidingQueue, subscriptionStream, unwrapScoped } from "#port"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as AdaptiveLimiter from "../guards/AdaptiveLimiter.js"
import type * as AdaptiveThrottler from "../guards/AdaptiveThrottler.js"
import type * as Bulkhead from "../guards/Bulkhead.js"
import type * as CircuitBreaker from "../guards/CircuitBreaker.js"
import type * as Hedge from "../guards/Hedge.js"
import { hubOf } from "../guards/internal/guardInternals.js"
import type * as RateLimiter from "../guards/RateLimiter.js"
import type * as Retry from "../guards/Retry.js"
import type * as TimeLimiter from "../guards/TimeLimiter.js"
import { createdFeedOf } from "../registry/internal/createdFeed.js"
import type { Guard, Registry } from "../registry/Registry.js"
import { EVENT_BUFFER } from "../shared/internal/eventHub.js"

/**
 * An event with the guard it came from: `kind`, `name`, `at` (the event's `Clock` time, epoch
 * millis) and the guard's own `event`.
 *
 * @example
 * ```ts
 * import type { Events } from "breakwater"
 *
 * const describe = (e: Events.GuardEvent) =>
 *   e.kind === "CircuitBreaker" && e.event._tag === "StateTransition" ? `${e.name} -> ${e.event.to}` : e.event._tag
 * ```
 *
 * @since 0.1.0
 */
export type GuardEvent =
  | Tagged<"CircuitBreaker", CircuitBreaker.Event>
  | Tagged<"RateLimiter", RateLimiter.Event>
  | Tagged<"Bulkhead", Bulkhead.Event>
  | Tagged<"TimeLimiter", TimeLimiter.Event>
  | Tagged<"Retry", Retry.Event>
  | Tagged<"AdaptiveLimiter", AdaptiveLimiter.Event>
  | Tagged<"AdaptiveThrottler", AdaptiveThrottler.Event>
  | Tagged<"Hedge", Hedge.Event>

interface Tagged<K extends Guard["kind"], E> {
  readonly kind: K
  readonly name: string
  readonly at: number
  readonly event: E
}

/** Events published once per guarded call (left out unless `calls` is on). */
const perCall: Record<Guard["kind"], ReadonlySet<string>> = {
  CircuitBreaker: new Set(["Success", "Error", "IgnoredError"]),
  RateLimiter: new Set(["SuccessfulAcquire"]),
  Bulkhead: new Set(["CallPermitted", "CallFinished"]),
  TimeLimiter: new Set(["Success", "Error"]),
  Retry: new Set(["Success", "Error", "IgnoredError"]),
  // The adaptive guards publish only rare events: limit changes, refusals, hedges.
  AdaptiveLimiter: new Set(),
  AdaptiveThrottler: new Set(),
  Hedge: new Set()
}

/**
 * True for an event published once per guarded call (a success, a permit, a finished call), false
 * for the rare ones (transitions, refusals, timeouts, retries).
 *
 * @example
 * ```ts
 * import { Events } from "breakwater"
 *
 * declare const event: Events.GuardEvent
 * const interesting = !Events.isPerCall(event)
 * ```
 *
 * @since 0.1.0
 */
export const isPerCall = (event: GuardEvent): boolean => perCall[event.kind].has(event.event._tag)

/**
 * Options of {@link stream} and {@link record}.
 *
 * @example
 * ```ts
 * import type { Events } from "breakwater"
 *
 * const everything: Events.Options = { calls: true, size: 500 }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  /** Include per-call events (costly, see the module docs). Default: true for `stream`, false for `record`. */
  readonly calls?: boolean
  /** Events kept per guard by a {@link Recorder}. Default 100. */
  readonly size?: number
}

const tag = (guard: Guard, event: { readonly _tag: string; readonly at: number }): GuardEvent =>
  ({ kind: guard.kind, name: guard.name, at: event.at, event }) as GuardEvent

/** Forwards `guard`'s events to `out` for as long as the scope lasts (subscribed before returning). */
const follow = (guard: Guard, calls: boolean, out: (event: GuardEvent) => void) =>
  Effect.gen(function*() {
    const hub = hubOf(guard)
    const queue = yield* (calls ? hub.subscription : hub.rareSubscription)
    const skip = calls ? undefined : perCall[guard.kind]
    yield* subscriptionStream(queue).pipe(
      Stream.runForEach((raw) =>
        Effect.sync(() => {
          const event = raw as { readonly _tag: string; readonly at: number }
          if (skip === undefined || !skip.has(event._tag)) out(tag(guard, event))
        })
      ),
      Effect.forkScoped
    )
  })

/**
 * Follows every guard of `registry` (now and later), calling `out` for each event; subscribed to the
 * current guards before it returns. Ends with the scope (or the registry).
 */
const followAll = (registry: Registry, calls: boolean, out: (event: GuardEvent) => void) =>
  Effect.gen(function*() {
    const created = yield* PubSub.subscribe(createdFeedOf(registry))
    const followed = new Set<Guard>()
    const start = (guard: Guard) => {
      if (followed.has(guard)) return Effect.void
      followed.add(guard)
      return follow(guard, calls, out)
    }
    for (const guard of yield* registry.guards) yield* start(guard)
    return yield* subscriptionStream(created).pipe(Stream.runForEach(start), Effect.forkScoped)
  })

/**
 * One stream of the events of every guard of `registry`, including guards created after it starts.
 * `calls: false` leaves per-call events out and spares the guards their cost.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Events, Registry } from "breakwater"
 *
 * const transitions = (registry: Registry.Registry) =>
 *   Events.stream(registry, { calls: false }).pipe(
 *     Stream.filter((e) => e.event._tag === "StateTransition"),
 *     Stream.runForEach((e) => Effect.log(`${e.name}: ${e.event._tag}`))
 *   )
 * ```
 *
 * @since 0.1.0
 */
export const stream = (registry: Registry, options: Pick<Options, "calls"> = {}): Stream.Stream<GuardEvent> =>
  unwrapScoped(subscribe(registry, options))

/**
 * Like {@link stream}, but subscribed to every current guard before it returns, in the caller's
 * `Scope`: after `const events = yield* Events.subscribe(registry)`, no event of those guards is
 * missed, even when the stream is read in a fiber forked afterwards. (`stream` subscribes only when
 * it starts running.)
 *
 * @example
 * ```ts
 * import { Effect, Fiber, Stream } from "effect"
 * import { Events, Registry } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const registry = yield* Registry.make()
 *     const breaker = yield* registry.circuitBreaker("payments")
 *     const events = yield* Events.subscribe(registry, { calls: false })
 *     const first = yield* Effect.forkScoped(Stream.runHead(events))
 *     yield* breaker.transitionToOpen
 *     return yield* Fiber.join(first) // Some(StateTransition Closed -> Open), never missed
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const subscribe = (
  registry: Registry,
  options: Pick<Options, "calls"> = {}
): Effect.Effect<Stream.Stream<GuardEvent>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const out = yield* Effect.acquireRelease(slidingQueue<GuardEvent>(EVENT_BUFFER), Queue.shutdown)
    const watcher = yield* followAll(registry, options.calls ?? true, (event) => offerNow(out, event))
    // When the registry ends, so does the stream.
    yield* Fiber.await(watcher).pipe(Effect.andThen(closeQueue(out)), Effect.forkScoped)
    return queueStream(out)
  })

/**
 * The most recent events of each guard, kept for late readers.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Events } from "breakwater"
 *
 * const lastTransitions = (recorder: Events.Recorder) =>
 *   Effect.map(recorder.recent("CircuitBreaker", "payments"), (events) => events.map((e) => e.event._tag))
 * ```
 *
 * @since 0.1.0
 */
export interface Recorder {
  /** The guard's kept events, oldest first. */
  readonly recent: (kind: Guard["kind"], name: string) => Effect.Effect<ReadonlyArray<GuardEvent>>
  /** Every kept event of every guard, oldest first. */
  readonly all: Effect.Effect<ReadonlyArray<GuardEvent>>
}

/** A bounded ring: the newest `size` items. */
class Ring {
  private readonly items: Array<GuardEvent> = []
  private next = 0
  constructor(private readonly size: number) {}

  push(item: GuardEvent): void {
    if (this.items.length < this.size) this.items.push(item)
    else this.items[this.next] = item
    this.next = (this.next + 1) % this.size
  }

  toArray(): ReadonlyArray<GuardEvent> {
    return this.items.length < this.size
      ? this.items.slice()
      : [...this.items.slice(this.next), ...this.items.slice(0, this.next)]
  }
}

/**
 * Starts keeping the last `size` (default 100) events of every guard of `registry`, rare events only
 * unless `calls` is on; it keeps recording until the scope closes.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Effect } from "effect"
 * import { Events, Registry } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const registry = yield* Registry.make()
 *     const recorder = yield* Events.record(registry, { size: 50 })
 *     const breaker = yield* registry.circuitBreaker("payments")
 *     yield* breaker.transitionToForcedOpen
 *     yield* Effect.yieldNow()
 *     return yield* recorder.recent("CircuitBreaker", "payments") // [StateTransition Closed -> ForcedOpen]
 *   })
 * )
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Effect } from "effect"
 * import { Events, Registry } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const registry = yield* Registry.make()
 *     const recorder = yield* Events.record(registry, { size: 50 })
 *     const breaker = yield* registry.circuitBreaker("payments")
 *     yield* breaker.transitionToForcedOpen
 *     yield* Effect.yieldNow
 *     return yield* recorder.recent("CircuitBreaker", "payments") // [StateTransition Closed -> ForcedOpen]
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const record = (registry: Registry, options: Options = {}): Effect.Effect<Recorder, never, Scope.Scope> =>
  Effect.gen(function*() {
    const size = Math.max(1, Math.floor(options.size ?? 100))
    const rings = new Map<string, Ring>()
    const key = (kind: Guard["kind"], name: string) => `${kind}/${name}`
    yield* followAll(registry, options.calls ?? false, (event) => {
      const k = key(event.kind, event.name)
      let ring = rings.get(k)
      if (ring === undefined) rings.set(k, ring = new Ring(size))
      ring.push(event)
    })
    return {
      recent: (kind, name) => Effect.sync(() => rings.get(key(kind, name))?.toArray() ?? []),
      all: Effect.sync(() => Array.from(rings.values()).flatMap((ring) => ring.toArray()).sort((a, b) => a.at - b.at))
    }
  })
