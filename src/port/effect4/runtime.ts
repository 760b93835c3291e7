/**
 * The runtime names of `../effect3/runtime.ts`, in Effect 4's own types (same names and signatures).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Filter from "effect/Filter"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Semaphores from "effect/Semaphore"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"

/** A layer whose service is made in the layer's scope: 3 `Layer.scoped`, 4 `Layer.effect`. */
export const layerScoped = <I, S, E, R>(
  key: Context.Key<I, S>,
  make: Effect.Effect<S, E, R>
): Layer.Layer<I, E, Exclude<R, Scope.Scope>> => Layer.effect(key, make)

/** The layer an effect makes (the effect runs when the layer is built): 3 `Layer.unwrapEffect`, 4 `Layer.unwrap`. */
export const unwrapLayer = <A, E1, R1, E, R>(
  effect: Effect.Effect<Layer.Layer<A, E1, R1>, E, R>
): Layer.Layer<A, E | E1, R1 | R> => Layer.unwrap(effect)

/** A fiber that was forked: 3 `Fiber.RuntimeFiber`, 4 `Fiber.Fiber`. */
export type RunningFiber<A, E = never> = Fiber.Fiber<A, E>

/** Forks a child of the current fiber: 3 `Effect.fork`, 4 `Effect.forkChild`. */
export const forkChild = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<RunningFiber<A, E>, never, R> =>
  Effect.forkChild(self)

/** Forks a fiber that outlives its parent: 3 `Effect.forkDaemon`, 4 `Effect.forkDetach`. */
export const forkDetach = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<RunningFiber<A, E>, never, R> =>
  Effect.forkDetach(self)

/** What `Effect.fiberId` gives: 3 a `FiberId`, 4 a number. */
export type FiberIdentity = number

/**
 * Asks `fiber` to stop, without waiting, as `by` (default: no fiber): 3 `unsafeInterruptAsFork`,
 * 4 `interruptUnsafe`.
 */
export const interruptNow = (fiber: RunningFiber<unknown, unknown>, by?: FiberIdentity): void =>
  fiber.interruptUnsafe(by)

/** Forks an effect as a new root fiber with the context it was made in. */
export type Runner = <A, E>(effect: Effect.Effect<A, E>) => RunningFiber<A, E>

/** The current context's runner (for timers started outside any fiber): 3 `Runtime.runFork(yield* Effect.runtime())`, 4 `Effect.runForkWith(yield* Effect.context())`. */
export const currentRunner: Effect.Effect<Runner> = Effect.map(
  Effect.context<never>(),
  (context): Runner => (effect) => Effect.runForkWith(context)(effect)
)

/** Suspends until `register`'s callback is called: 3 `Effect.async`, 4 `Effect.callback`. */
export const callback = <A, E = never, R = never>(
  register: (resume: (effect: Effect.Effect<A, E, R>) => void) => void | Effect.Effect<void, never, R>
): Effect.Effect<A, E, R> => Effect.callback<A, E, R>((resume) => register(resume))

/** Offers synchronously; false when a full buffer drops it: 3 `pubsub.unsafeOffer`, 4 `PubSub.publishUnsafe`. */
export const publishNow = <A>(pubsub: PubSub.PubSub<A>, value: A): boolean => PubSub.publishUnsafe(pubsub, value)

/** Completes `deferred` synchronously: 3 `Deferred.unsafeDone`, 4 `Deferred.doneUnsafe`. */
export const completeNow = <A, E>(deferred: Deferred.Deferred<A, E>, effect: Effect.Effect<A, E>): void => {
  Deferred.doneUnsafe(deferred, effect)
}

/** What a `PubSub` subscription reads from: 3 `Queue.Dequeue`, 4 `PubSub.Subscription`. */
export type Subscription<A> = PubSub.Subscription<A>

/** A subscription's messages as a stream: 3 `Stream.fromQueue`, 4 `Stream.fromSubscription`. */
export const subscriptionStream = <A>(subscription: Subscription<A>): Stream.Stream<A> =>
  Stream.fromSubscription(subscription)

/** A stream made by a scoped effect, the scope lasting as long as the stream: 3 `Stream.unwrapScoped`, 4 `Stream.unwrap`. */
export const unwrapScoped = <A, E2, R2, E, R>(
  effect: Effect.Effect<Stream.Stream<A, E2, R2>, E, R>
): Stream.Stream<A, E | E2, R2 | Exclude<R, Scope.Scope>> => Stream.unwrap(effect)

/** Keeps and maps the elements for which `f` gives `Some`: 3 `Stream.filterMap`, 4 with `Filter.fromPredicateOption`. */
export const filterMapOption =
  <A, B>(f: (a: A) => Option.Option<B>) => <E, R>(self: Stream.Stream<A, E, R>): Stream.Stream<B, E, R> =>
    Stream.filterMap(self, Filter.fromPredicateOption(f))

/** A scope that can be closed: 3 `Scope.CloseableScope`, 4 `Scope.Closeable`. */
export type CloseableScope = Scope.Closeable

/** A child of `scope`, closing its finalizers in order: `Scope.fork` with 3 `ExecutionStrategy.sequential`, 4 `"sequential"`. */
export const forkScope = (scope: Scope.Scope): Effect.Effect<CloseableScope> => Scope.fork(scope, "sequential")

/** Runs `self` in `scope`: 3 `Scope.extend`, 4 `Scope.provide`. */
export const scopeProvide = <A, E, R>(self: Effect.Effect<A, E, R>, scope: Scope.Scope) =>
  Scope.provide(self, scope) as Effect.Effect<A, E, Exclude<R, Scope.Scope>>

/**
 * Whether the cause holds interruptions only: 3 `Cause.isInterruptedOnly`; 4 every reason an interrupt
 * (an empty cause counts, as in Effect 3; 4's `Cause.hasInterruptsOnly` says false for it).
 */
export const isInterruptOnly = <E>(cause: Cause.Cause<E>): boolean => cause.reasons.every(Cause.isInterruptReason)

/** The cause's first typed failure: 3 `Cause.failureOption`, 4 `Cause.findErrorOption`. */
export const failureOf = <E>(cause: Cause.Cause<E>): Option.Option<E> => Cause.findErrorOption(cause)

/** The error a cause holds, unwrapped: 3 `Cause.originalError` (under a span 3 hands back a Proxy), 4 as is. */
export const originalError = <E>(error: E): E => error

/** The cause's first defect: 3 `Cause.dieOption`, 4 `Cause.findDefect` as an Option. */
export const defectOf = <E>(cause: Cause.Cause<E>): Option.Option<unknown> => Result.getSuccess(Cause.findDefect(cause))

/**
 * The calling fiber's current span, synchronously (inside `Effect.suspend` or a match handler), when
 * it is one of Effect's own: 3 the fiber's `currentSpan`, 4 `Fiber.getCurrent()?.cache.span`.
 */
export const currentFiberSpan = (): Tracer.AnySpan | undefined => Fiber.getCurrent()?.cache.span

/**
 * A duration read from any value (a resolved option, an error's hint); none when it is not one:
 * 3 `Duration.decodeUnknown`, 4 `Duration.fromInput` without its `{ seconds, … }` objects (which would
 * read any object, a `Schedule` too, as a duration).
 */
export const durationOf = (u: unknown): Option.Option<Duration.Duration> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !Duration.isDuration(u)
    ? Option.none()
    : Duration.fromInput(u as Duration.Input)

/**
 * Fails with `onTimeout()` if `self` has not finished within `duration`, once `self` has been interrupted:
 * 3 `Effect.timeoutFail`, 4 `Effect.timeoutOrElse` failing.
 */
export const timeoutFail = <A, E, R, E2>(
  self: Effect.Effect<A, E, R>,
  options: { readonly duration: Duration.Duration; readonly onTimeout: () => E2 }
): Effect.Effect<A, E | E2, R> =>
  Effect.timeoutOrElse(self, { duration: options.duration, orElse: () => Effect.fail(options.onTimeout()) })

/** Dies with an error carrying `message`: 3 `Effect.dieMessage`, 4 `Effect.die(new Error(message))`. */
export const dieMessage = (message: string): Effect.Effect<never> => Effect.die(new Error(message))

/** A service key named `key` for the interface `S`: 3 `Context.GenericTag`, 4 `Context.Service`. */
export const serviceKey = <S>(key: string): Context.Key<S, S> => Context.Service<S>(key)

/** A semaphore: 3 `Effect.Semaphore`, 4 `Semaphore.Semaphore`. */
export type Semaphore = Semaphores.Semaphore

/** A semaphore made synchronously: 3 `Effect.unsafeMakeSemaphore`, 4 `Semaphore.makeUnsafe`. */
export const makeSemaphoreNow = (permits: number): Semaphore => Semaphores.makeUnsafe(permits)

/** Runs `self` with `clock` as its `Clock`: 3 `Effect.withClock`, 4 `Effect.provideService(Clock.Clock, …)`. */
export const withClock = <A, E, R>(self: Effect.Effect<A, E, R>, clock: Clock.Clock): Effect.Effect<A, E, R> =>
  Effect.provideService(self, Clock.Clock, clock)
