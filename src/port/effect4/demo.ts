/**
 * What the demo (`demo/`) needs that differs between Effects, on Effect 4 (the same names as
 * `../effect3/demo.ts`): its virtual time (Effect 4's `Clock` shape and a `Scheduler` whose
 * dispatcher queues tasks until flushed), `TestClock` from `effect/testing`, seeded `Random` draws,
 * `Result` for the CLI and `Version`. A sub-port (`#port/demo`), never loaded by the library.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Clock_ from "effect/Clock"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Fiber_ from "effect/Fiber"
import * as HttpRouter from "effect/http/HttpRouter"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Result from "effect/Result"
import * as Scheduler from "effect/Scheduler"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as Version from "effect/Version"
import type { App, Routes } from "./httpServer.js"

/** The running Effect's version (Effect 4: `Version.getCurrentVersion`). */
export const effectVersion: string = Version.getCurrentVersion()

/** A success or a failure (Effect 3: `Either`, 4: `Result`). */
export type Either<A, E> = Result.Result<A, E>

/** `f()`'s value, or `onThrow` of what it threw (Effect 4: `Result.try`). */
export const tryEither = <A, E>(f: () => A, onThrow: (error: unknown) => E): Either<A, E> =>
  Result.try({ try: f, catch: onThrow })

/** The value, else the failure thrown (Effect 4: `Result.getOrThrowWith`). */
export const eitherOrThrow = <A, E>(either: Either<A, E>): A => Result.getOrThrowWith(either, (e) => e)

/** The failure, if any. */
export const eitherFailure = <A, E>(either: Either<A, E>): E | undefined =>
  Result.isFailure(either) ? either.failure : undefined

/** As an Effect failing with the failure (Effect 4: `Effect.fromResult`). */
export const eitherEffect = <A, E>(either: Either<A, E>): Effect.Effect<A, E> => Effect.fromResult(either)

/** A number drawn in `[min, max)` (Effect 4: `Random.nextBetween`). */
export const randomBetween = (min: number, max: number): Effect.Effect<number> => Random.nextBetween(min, max)

/** An integer drawn in `[min, max)` (Effect 4: `Random.nextIntBetween` with `halfOpen`; its default includes `max`). */
export const randomIntBetween = (min: number, max: number): Effect.Effect<number> =>
  Random.nextIntBetween(min, max, { halfOpen: true })

/** `effect` with `Random` seeded by `seed` (Effect 4: `Random.withSeed`; another generator than Effect 3's). */
export const withSeed = (seed: number) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Random.withSeed(effect, seed)

/** A `Clock` reading `now()` whose sleeps call `sleep(at, wake)`, which answers a canceller. */
export const makeClock = (
  now: () => number,
  sleep: (millis: number, wake: () => void) => () => void
): Clock.Clock => ({
  currentTimeMillisUnsafe: now,
  currentTimeNanosUnsafe: () => BigInt(now()) * 1_000_000n,
  monotonicTimeNanosUnsafe: () => BigInt(now()) * 1_000_000n,
  currentTimeMillis: Effect.sync(now),
  currentTimeNanos: Effect.sync(() => BigInt(now()) * 1_000_000n),
  monotonicTimeNanos: Effect.sync(() => BigInt(now()) * 1_000_000n),
  sleep: (duration: Duration.Duration) =>
    Effect.callback<void>((resume) => {
      const cancel = sleep(Math.max(0, Duration.toMillis(duration)), () => resume(Effect.void))
      return Effect.sync(cancel)
    })
})

/** A scheduler whose tasks wait in a queue until `flush` runs them; `idle` when none waits. */
export interface ManualScheduler {
  readonly idle: boolean
  flush(): void
}

/**
 * Effect 4's scheduler makes a dispatcher per fiber; here every fiber shares one queue, so `flush`
 * runs them all. Within a batch, lower priorities first, FIFO among equals (as `MixedScheduler`).
 */
class Manual implements Scheduler.Scheduler, Scheduler.SchedulerDispatcher, ManualScheduler {
  readonly executionMode = "async" as const
  private tasks: Array<readonly [priority: number, task: () => void]> = []
  get idle(): boolean {
    return this.tasks.length === 0
  }
  shouldYield(fiber: Fiber.Fiber<unknown, unknown>): boolean {
    return fiber.currentOpCount >= fiber.cache.maxOpsBeforeYield
  }
  makeDispatcher(): Scheduler.SchedulerDispatcher {
    return this
  }
  scheduleTask(task: () => void, priority: number): void {
    this.tasks.push([priority, task])
  }
  flush(): void {
    while (this.tasks.length > 0) {
      const batch = this.tasks
      this.tasks = []
      // A stable sort: equal priorities keep their order of arrival.
      batch.sort((a, b) => a[0] - b[0])
      for (const [, task] of batch) task()
    }
  }
}

export const makeScheduler = (): ManualScheduler => new Manual()

/**
 * Starts `effect` with `clock`, `scheduler` and `Random` seeded by `seed`, and calls `onExit` with its
 * exit when it ends (Effect 4: the `Clock`, `Scheduler` and `Random` references provided as services).
 */
export const forkWith = <A, E>(
  effect: Effect.Effect<A, E>,
  clock: Clock.Clock,
  scheduler: ManualScheduler,
  seed: number,
  onExit: (exit: Exit.Exit<A, E>) => void
): void => {
  const manual = scheduler as Manual
  const program = effect.pipe(
    Effect.provideService(Clock_.Clock, clock),
    Random.withSeed(seed),
    Effect.provideService(Scheduler.Scheduler, manual)
  )
  Effect.runFork(program, { scheduler: manual }).addObserver(onExit)
}

/** Runs `effect` from epoch 0 under `TestClock`, moving time by `stepMillis` until it ends. */
export const runUnderTestClock = <A, E>(effect: Effect.Effect<A, E>, seed: number, stepMillis: number): Promise<A> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(effect)
      // `adjust` wakes every sleeper due within the step, each at its own time, in order.
      while (fiber.pollUnsafe() === undefined) yield* TestClock.adjust(stepMillis)
      return yield* Fiber_.join(fiber)
    }).pipe(Random.withSeed(seed), Effect.provide(TestClock.layer()))
  )

/**
 * An app answering with `routes`, their handlers given `context` (Effect 4: routes are a Layer,
 * `HttpRouter.toHttpEffect` of them with the context provided to each request, `HttpRouter.provideRequest`).
 */
export const routesApp = <E, R>(
  routes: Routes<E, R>,
  context: Context.Context<R>
): Effect.Effect<App<E, Scope.Scope>, never, Scope.Scope> =>
  Effect.orDie(
    HttpRouter.toHttpEffect(
      routes.pipe(HttpRouter.provideRequest(Layer.succeedContext(context))) as Layer.Layer<
        never,
        E,
        HttpRouter.HttpRouter
      >
    )
  ) as Effect.Effect<App<E, Scope.Scope>, never, Scope.Scope>
