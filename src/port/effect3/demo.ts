/**
 * What the demo (`demo/`) needs that differs between Effects, on Effect 3: its virtual time (a `Clock`
 * and a `Scheduler` of its own), `TestClock`, seeded `Random` draws, the CLI's `Either` and the running
 * Effect's version. A sub-port (`#port/demo`), never loaded by the library; Effect 4's: `../effect4/demo.ts`.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either_ from "effect/Either"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Random from "effect/Random"
import * as Scheduler from "effect/Scheduler"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import { createRequire } from "node:module"
import type { App, Routes } from "./httpServer.js"

/** The running Effect's version (Effect 3 exports none: read from its package.json). */
export const effectVersion: string = (createRequire(import.meta.url)("effect/package.json") as { version: string })
  .version

/** A success or a failure (Effect 3: `Either`, 4: `Result`). */
export type Either<A, E> = Either_.Either<A, E>

/** `f()`'s value, or `onThrow` of what it threw (Effect 3: `Either.try`). */
export const tryEither = <A, E>(f: () => A, onThrow: (error: unknown) => E): Either<A, E> =>
  Either_.try({ try: f, catch: onThrow })

/** The value, else the failure thrown (Effect 3: `Either.getOrThrowWith`). */
export const eitherOrThrow = <A, E>(either: Either<A, E>): A => Either_.getOrThrowWith(either, (e) => e)

/** The failure, if any. */
export const eitherFailure = <A, E>(either: Either<A, E>): E | undefined =>
  Either_.isLeft(either) ? either.left : undefined

/** As an Effect failing with the failure (Effect 3: an `Either` is one). */
export const eitherEffect = <A, E>(either: Either<A, E>): Effect.Effect<A, E> => either

/** A number drawn in `[min, max)` (Effect 3: `Random.nextRange`). */
export const randomBetween = (min: number, max: number): Effect.Effect<number> => Random.nextRange(min, max)

/** An integer drawn in `[min, max)` (Effect 3: `Random.nextIntBetween`, whose upper bound is exclusive). */
export const randomIntBetween = (min: number, max: number): Effect.Effect<number> => Random.nextIntBetween(min, max)

/** `effect` with `Random` seeded by `seed` (Effect 3: `Effect.withRandom(Random.make(seed))`). */
export const withSeed = (seed: number) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withRandom(effect, Random.make(seed))

/** A `Clock` reading `now()` whose sleeps call `sleep(at, wake)`, which answers a canceller. */
export const makeClock = (
  now: () => number,
  sleep: (millis: number, wake: () => void) => () => void
): Clock.Clock => ({
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: now,
  unsafeCurrentTimeNanos: () => BigInt(now()) * 1_000_000n,
  currentTimeMillis: Effect.sync(now),
  currentTimeNanos: Effect.sync(() => BigInt(now()) * 1_000_000n),
  sleep: (duration: Duration.Duration) =>
    Effect.async<void>((resume) => {
      const cancel = sleep(Math.max(0, Duration.toMillis(duration)), () => resume(Effect.void))
      return Effect.sync(cancel)
    })
})

/** A scheduler whose tasks wait in a queue until `flush` runs them; `idle` when none waits. */
export interface ManualScheduler {
  readonly idle: boolean
  flush(): void
}

class Manual implements Scheduler.Scheduler, ManualScheduler {
  private tasks: Array<Scheduler.Task> = []
  get idle(): boolean {
    return this.tasks.length === 0
  }
  scheduleTask(task: Scheduler.Task): void {
    this.tasks.push(task)
  }
  shouldYield = Scheduler.defaultShouldYield
  flush(): void {
    while (this.tasks.length > 0) {
      const batch = this.tasks
      this.tasks = []
      for (const task of batch) task()
    }
  }
}

export const makeScheduler = (): ManualScheduler => new Manual()

/**
 * Starts `effect` with `clock`, `scheduler` and `Random` seeded by `seed`, and calls `onExit` with its
 * exit when it ends (Effect 3: `Effect.withClock`, `withRandom`, `withScheduler`, `runFork` on the scheduler).
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
    Effect.withClock(clock),
    Effect.withRandom(Random.make(seed)),
    Effect.withScheduler(manual)
  )
  Effect.runFork(program, { scheduler: manual }).addObserver(onExit)
}

/** Runs `effect` from epoch 0 under `TestClock`, moving time by `stepMillis` until it ends. */
export const runUnderTestClock = <A, E>(effect: Effect.Effect<A, E>, seed: number, stepMillis: number): Promise<A> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(effect)
      // `adjust` wakes every sleeper due within the step, each at its own time, in order.
      while ((yield* Fiber.poll(fiber))._tag === "None") yield* TestClock.adjust(stepMillis)
      return yield* Fiber.join(fiber)
    }).pipe(Effect.withRandom(Random.make(seed)), Effect.provide(TestContext.TestContext))
  )

/**
 * An app answering with `routes`, their handlers given `context` (Effect 3: a router value is itself an
 * app, `Effect.provide` gives it the context).
 */
export const routesApp = <E, R>(
  routes: Routes<E, R>,
  context: Context.Context<R>
): Effect.Effect<App<E, Scope.Scope>, never, Scope.Scope> =>
  Effect.succeed(Effect.provide(routes, context) as App<E, Scope.Scope>)
