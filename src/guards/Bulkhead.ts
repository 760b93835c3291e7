/**
 * A bulkhead with Resilience4j's semantics: at most `maxConcurrentCalls` calls run at once; a call
 * that finds every slot taken waits its turn, in arrival order, for at most `maxWaitDuration`, then is
 * refused with `BulkheadFullError`.
 *
 * ## When to use
 * Around calls that hold a scarce resource (connections to a database, a dependency that degrades
 * under concurrency, CPU-heavy work): it bounds how much of the process one dependency can tie up, so
 * a slow dependency exhausts its own compartment instead of every fiber in the service.
 *
 * ## Gotchas
 * - The default `maxWaitDuration` is 0: a call that finds no free slot is refused at once. Give it a
 *   wait to queue callers instead (fairly: first come, first served, and nobody barges past waiters).
 * - A slot is held from admission until the call's exit, whatever it is (success, failure, defect or
 *   interruption); a caller interrupted while waiting leaves the queue without taking a slot.
 * - Lowering `maxConcurrentCalls` with `reconfigure` never interrupts running calls: new calls wait (or
 *   are refused) until the running ones drop below the new limit.
 * - The bulkhead counts calls in this process only.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * const query = (sql: string) => Effect.succeed([sql])
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 10, maxWaitDuration: "100 millis" })
 *     return yield* query("select 1").pipe(Bulkhead.withBulkhead(bulkhead))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { Admitted, BulkheadCore, Waiter, Waiting } from "../core/bulkheadCore.js"
import { withoutStackTrace } from "../shared/internal/errors.js"
import { type EventHub, makeEventHub } from "../shared/internal/eventHub.js"
import { currentSpan, spanEvent } from "../shared/internal/observe.js"
import { decodeOptions, readFields, restoreDefaults } from "../shared/internal/validation.js"
import type { InvalidConfigError } from "../shared/InvalidConfigError.js"
import type { Policy } from "../shared/Policy.js"
import { ChangesSchema, configFields, OptionsSchema } from "./internal/bulkheadConfig.js"
import { acquire as acquireManually } from "./internal/manualPermission.js"

/** The defaults, for `reconfigure`'s "undefined means default". */
const defaults = Schema.decodeSync(OptionsSchema)({ name: "defaults" })
/**
 * The bulkhead's options, with Resilience4j's names and defaults. Durations accept any
 * `Duration.DurationInput` (`"500 millis"`, `Duration.seconds(1)`, or millis).
 *
 * @example
 * ```ts
 * import type { Bulkhead } from "breakwater"
 *
 * const options: Bulkhead.Options = { name: "db", maxConcurrentCalls: 10, maxWaitDuration: "250 millis" }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  readonly name: string
  /** Calls allowed to run at once, a whole number >= 0. Default 25. */
  readonly maxConcurrentCalls?: number
  /** How long a call may wait for a slot; 0 (default) refuses at once, `Duration.infinity` never does. */
  readonly maxWaitDuration?: Duration.DurationInput
}

/**
 * New settings for a running bulkhead (see `reconfigure`); absent fields stay as they are.
 *
 * @example
 * ```ts
 * import type { Bulkhead } from "breakwater"
 *
 * const wider: Bulkhead.Changes = { maxConcurrentCalls: 50 }
 * ```
 *
 * @since 0.1.0
 */
export type Changes = Omit<Options, "name">

/**
 * The bulkhead's gauges, with Resilience4j's names.
 *
 * @example
 * ```ts
 * import type { Bulkhead } from "breakwater"
 *
 * const inUse = (m: Bulkhead.Metrics) => m.maxAllowedConcurrentCalls - m.availableConcurrentCalls
 * ```
 *
 * @since 0.1.0
 */
export interface Metrics {
  /** Free slots; never negative (0 while a lowered limit is still exceeded by running calls). */
  readonly availableConcurrentCalls: number
  readonly maxAllowedConcurrentCalls: number
}

/**
 * A call was refused without being run: every slot was taken and it could not wait (or waited
 * `maxWaitDuration` in vain). `retryAfter` is always `Option.none()` (a bulkhead cannot know when a
 * slot will free); it is there because every refusal carries one.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * const shed = (self: Effect.Effect<string, Bulkhead.BulkheadFullError>) =>
 *   self.pipe(Effect.catchTag("BulkheadFullError", (e) => Effect.succeed(`busy: ${e.bulkheadName}`)))
 * ```
 *
 * @since 0.1.0
 */
export class BulkheadFullError extends Data.TaggedError("BulkheadFullError")<{
  readonly bulkheadName: string
  readonly maxConcurrentCalls: number
  readonly retryAfter: Option.Option<Duration.Duration>
}> {
  override get message(): string {
    return `Bulkhead '${this.bulkheadName}' is full and does not permit further calls`
  }
}

/**
 * What a bulkhead reports; each event carries the bulkhead's name and the `Clock` time in epoch millis.
 * `CallFinished` follows every `CallPermitted`, whatever the call's exit.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * const logRejections = (bulkhead: Bulkhead.Bulkhead) =>
 *   bulkhead.events.pipe(
 *     Stream.filter(Bulkhead.Event.$is("CallRejected")),
 *     Stream.runForEach((e) => Effect.logWarning(`${e.bulkheadName} is full`))
 *   )
 * ```
 *
 * @since 0.1.0
 */
export type Event = Data.TaggedEnum<{
  CallPermitted: { readonly bulkheadName: string; readonly at: number }
  CallRejected: { readonly bulkheadName: string; readonly at: number }
  CallFinished: { readonly bulkheadName: string; readonly at: number }
}>

/**
 * Constructors and guards for {@link Event}.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "breakwater"
 *
 * const isRejection = Bulkhead.Event.$is("CallRejected")
 * ```
 *
 * @since 0.1.0
 */
export const Event = Data.taggedEnum<Event>()

/**
 * A running bulkhead. Obtain one with {@link make} or {@link layer}; guard calls with
 * {@link withBulkhead} or {@link policy}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * const report = (bulkhead: Bulkhead.Bulkhead) =>
 *   Effect.flatMap(bulkhead.metrics, (m) =>
 *     Effect.log(`${bulkhead.name}: ${m.availableConcurrentCalls}/${m.maxAllowedConcurrentCalls} free`))
 * ```
 *
 * @since 0.1.0
 */
export interface Bulkhead {
  readonly kind: "Bulkhead"
  readonly name: string
  readonly metrics: Effect.Effect<Metrics>
  /** Events from the moment of subscription; a subscriber that falls far behind loses the oldest. */
  readonly events: Stream.Stream<Event>
  /**
   * Subscribes now, in the caller's `Scope`, and returns the events from that moment. Use it where
   * the first event matters: `events` subscribes only when the stream starts running, so a fiber
   * forked to read it may attach after the event (`Effect.yieldNow()` does not guarantee otherwise);
   * after `const events = yield* guard.subscribe`, nothing is missed.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<Event>, never, Scope.Scope>
  /**
   * Changes the limits in place. A higher `maxConcurrentCalls` admits waiters at once; a lower one
   * interrupts nothing. A new `maxWaitDuration` applies to calls that start waiting afterwards.
   */
  readonly reconfigure: (changes: Changes) => Effect.Effect<void, InvalidConfigError>
}

const wake = (admitted: ReadonlyArray<Waiter>): void => {
  for (let i = 0; i < admitted.length; i++) admitted[i]!.wake?.()
}

type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

class BulkheadImpl implements Bulkhead {
  readonly kind = "Bulkhead" as const
  readonly core: BulkheadCore
  private maxWaitMillis: number
  private lastRefusal: BulkheadFullError | undefined
  /** Cumulative counter for metrics, read on collection (never reset). */
  rejectedCalls = 0

  constructor(
    readonly name: string,
    config: typeof OptionsSchema.Type,
    private readonly clock: Clock.Clock,
    private readonly hub: EventHub<Event>
  ) {
    this.core = new BulkheadCore(config.maxConcurrentCalls)
    this.maxWaitMillis = Duration.toMillis(config.maxWaitDuration)
  }

  // ---- guarding calls ----------------------------------------------------------------------------

  /**
   * Everything runs with interruption masked, so a slot can never be taken without the handler that
   * gives it back being in place; only the call itself (and a wait) is interruptible.
   */
  guard<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | BulkheadFullError, R> {
    const handlers = {
      onSuccess: (value: A) => {
        this.finish()
        return Effect.succeed(value)
      },
      onFailure: (cause: Cause.Cause<E>) => {
        this.finish()
        return Effect.failCause(cause)
      }
    }
    // `restore` is one of two functions (the caller was interruptible or not): the call under it is
    // built once per `restore`, not on every call.
    let builtFor: Restore | undefined
    let built: Effect.Effect<A, E, R> | undefined
    const run = (restore: Restore): Effect.Effect<A, E, R> => {
      if (builtFor !== restore || built === undefined) {
        builtFor = restore
        built = Effect.matchCauseEffect(restore(self), handlers)
      }
      return built
    }
    return Effect.uninterruptibleMask((restore): Effect.Effect<A, E | BulkheadFullError, R> => {
      const span = currentSpan()
      if (span !== undefined) this.annotate(span)
      if (this.core.tryAcquire()) {
        if (this.hub.subscribers > 0) this.publishNow("CallPermitted")
        return run(restore)
      }
      return this.maxWaitMillis > 0 ? this.waitThenRun(restore, run) : this.refuse()
    })
  }

  /** Gives a slot back: the next waiters (if any) are admitted and woken. */
  private finish(): void {
    const admitted = this.core.release()
    if (admitted.length > 0) wake(admitted)
    if (this.hub.subscribers > 0) this.publishNow("CallFinished")
  }

  /**
   * Queues the caller (still masked, so the handler that removes it is in place before it can be
   * interrupted), waits interruptibly to be admitted, then runs the call in the slot it was given.
   */
  private waitThenRun<A, E, R>(
    restore: Restore,
    run: (restore: Restore) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | BulkheadFullError, R> {
    const core = this.core
    const waiter = new Waiter()
    core.enqueue(waiter)
    const admission = Effect.async<void>((resume) => {
      if (waiter.status === Waiting) waiter.wake = () => resume(Effect.void)
      else resume(Effect.void)
    })
    const maxWait = this.maxWaitMillis
    const waited = (timer: Fiber.RuntimeFiber<void> | undefined) =>
      Effect.matchCauseEffect(restore(admission), {
        onSuccess: (): Effect.Effect<A, E | BulkheadFullError, R> => {
          timer?.unsafeInterruptAsFork(FiberId.none)
          if (waiter.status !== Admitted) return this.refuse() // its wait expired
          if (this.hub.subscribers > 0) this.publishNow("CallPermitted")
          return run(restore)
        },
        onFailure: (cause) => {
          // Interrupted while waiting: leave the queue, or give back the slot it was just handed.
          timer?.unsafeInterruptAsFork(FiberId.none)
          wake(core.leave(waiter).admitted)
          return Effect.failCause(cause)
        }
      })
    if (!Number.isFinite(maxWait)) return waited(undefined)
    const expiry = Effect.interruptible(this.clock.sleep(Duration.millis(maxWait))).pipe(
      Effect.zipRight(Effect.sync(() => {
        if (waiter.status === Waiting) {
          core.leave(waiter)
          waiter.wake?.()
        }
      }))
    )
    return Effect.flatMap(Effect.fork(expiry), waited)
  }

  private refuse(): Effect.Effect<never, BulkheadFullError> {
    this.rejectedCalls++
    if (this.hub.listening) this.publishNow("CallRejected")
    const span = currentSpan()
    if (span !== undefined) {
      span.attribute("breakwater.bulkhead.decision", "refused")
      spanEvent(span, this.clock.unsafeCurrentTimeMillis(), "breakwater.bulkhead.full", {
        "breakwater.bulkhead.name": this.name,
        "breakwater.bulkhead.max_concurrent_calls": this.core.maxConcurrentCalls
      })
    }
    return Effect.fail(this.refusal())
  }

  /** What a trace shows of this bulkhead on a guarded call, before the slot is asked for. */
  private annotate(span: Tracer.Span): void {
    span.attribute("breakwater.bulkhead.name", this.name)
    span.attribute("breakwater.bulkhead.available_concurrent_calls", this.core.available)
    span.attribute("breakwater.bulkhead.decision", this.core.available > 0 ? "permitted" : "waiting")
  }

  /** The refusal depends on nothing but the limit, so refusals share one (immutable) error. */
  private refusal(): BulkheadFullError {
    const max = this.core.maxConcurrentCalls
    const last = this.lastRefusal
    if (last !== undefined && last.maxConcurrentCalls === max) return last
    const error = withoutStackTrace(() =>
      new BulkheadFullError({ bulkheadName: this.name, maxConcurrentCalls: max, retryAfter: Option.none() })
    )
    this.lastRefusal = error
    return error
  }

  private publishNow(tag: Event["_tag"]): void {
    this.hub.unsafeOffer(Event[tag]({ bulkheadName: this.name, at: this.clock.unsafeCurrentTimeMillis() }))
  }

  // ---- reading and steering ----------------------------------------------------------------------

  readonly metrics: Effect.Effect<Metrics> = Effect.sync(() => ({
    availableConcurrentCalls: this.core.available,
    maxAllowedConcurrentCalls: this.core.maxConcurrentCalls
  }))

  get events(): Stream.Stream<Event> {
    return this.hub.stream
  }

  get subscribe(): Effect.Effect<Stream.Stream<Event>, never, Scope.Scope> {
    return this.hub.subscribed
  }

  readonly reconfigure = (changes: Changes): Effect.Effect<void, InvalidConfigError> =>
    Effect.flatMap(
      decodeOptions(ChangesSchema, "Bulkhead", { ...restoreDefaults(changes, defaults), name: this.name }),
      (decoded) =>
        Effect.sync(() => {
          if (decoded.maxWaitDuration !== undefined) this.maxWaitMillis = Duration.toMillis(decoded.maxWaitDuration)
          if (decoded.maxConcurrentCalls !== undefined) {
            wake(this.core.setMaxConcurrentCalls(decoded.maxConcurrentCalls))
          }
        })
    )
}

/**
 * Creates a bulkhead with every slot free. Fails with `InvalidConfigError`, listing every bad field,
 * before anything starts. Its event hub lives in the surrounding `Scope`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 10 })
 *     return yield* bulkhead.metrics // { availableConcurrentCalls: 10, maxAllowedConcurrentCalls: 10 }
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Bulkhead, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* decodeOptions(OptionsSchema, "Bulkhead", options)
    const clock = yield* Effect.clock
    const hub = yield* makeEventHub<Event>()
    return new BulkheadImpl(config.name, config, clock, hub)
  })

/**
 * Runs `self` in a slot of the bulkhead: at once when one is free and nobody is waiting; otherwise
 * after waiting its turn (at most `maxWaitDuration`), or not at all, failing with
 * `BulkheadFullError`. The slot is given back on every exit. Dual: `withBulkhead(self, bulkhead)` or
 * `self.pipe(withBulkhead(bulkhead))`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * const guarded = Effect.succeed("ok").pipe(Bulkhead.withBulkhead(bulkhead))
 * const same = Bulkhead.withBulkhead(Effect.succeed("ok"), bulkhead)
 * ```
 *
 * @since 0.1.0
 */
export const withBulkhead: {
  (bulkhead: Bulkhead): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadFullError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead): Effect.Effect<A, E | BulkheadFullError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead) => (bulkhead as BulkheadImpl).guard(self)
)

/**
 * A bulkhead's current configuration (Resilience4j's `getBulkheadConfig()`).
 *
 * @example
 * ```ts
 * import type { Bulkhead } from "breakwater"
 *
 * const describe = (config: Bulkhead.Configuration) => `${config.maxConcurrentCalls} at once`
 * ```
 *
 * @since 0.1.0
 */
export interface Configuration {
  readonly name: string
  readonly maxConcurrentCalls: number
  readonly maxWaitDuration: Duration.Duration
}

/**
 * Reads a bulkhead's current configuration back (it changes with `reconfigure` and `Registry.reload`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * const slots = Effect.map(Bulkhead.configuration(bulkhead), (config) => config.maxConcurrentCalls)
 * ```
 *
 * @since 0.1.0
 */
export const configuration = (bulkhead: Bulkhead): Effect.Effect<Configuration> =>
  Effect.map(bulkhead.metrics, (metrics) => ({
    name: bulkhead.name,
    maxConcurrentCalls: metrics.maxAllowedConcurrentCalls,
    maxWaitDuration: Duration.millis((bulkhead as unknown as { readonly maxWaitMillis: number }).maxWaitMillis)
  }))

/**
 * A slot taken for a call made outside an effect (a callback, a stream element), from
 * {@link acquirePermission}: give it back once with `onComplete` (Resilience4j's `onComplete` /
 * `releasePermission`). It returns `true` when it gave the slot back and `false` when it had already
 * been given back (and then does nothing), so a slot cannot be returned twice. Events and metrics are
 * a guarded call's; a slot never given back stays taken.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * declare const startUpload: (done: () => void) => void
 *
 * const upload = Effect.gen(function*() {
 *   const permission = yield* Bulkhead.acquirePermission(bulkhead)
 *   yield* Effect.async<void>((resume) => startUpload(() => resume(Effect.asVoid(permission.onComplete))))
 * })
 * ```
 *
 * @since 0.1.0
 */
export interface Permission {
  readonly bulkheadName: string
  readonly onComplete: Effect.Effect<boolean>
  readonly settled: Effect.Effect<boolean>
}

/**
 * Takes a slot for a call made outside an effect, waiting for one up to `maxWaitDuration` as a guarded
 * call would; refused with `BulkheadFullError` (Resilience4j's `acquirePermission`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * const oneCall = Effect.flatMap(Bulkhead.acquirePermission(bulkhead), (permission) => permission.onComplete)
 * ```
 *
 * @since 0.1.0
 */
export const acquirePermission = (bulkhead: Bulkhead): Effect.Effect<Permission, BulkheadFullError> =>
  Effect.map(
    acquireManually<void, never, BulkheadFullError>((call) => withBulkhead(call, bulkhead)),
    (settlement): Permission => ({
      bulkheadName: bulkhead.name,
      onComplete: settlement.succeed(undefined),
      settled: settlement.settled
    })
  )

/**
 * Like {@link acquirePermission}, with a refusal as `None` (Resilience4j's `tryAcquirePermission`).
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * const admitted = Effect.map(Bulkhead.tryAcquirePermission(bulkhead), Option.isSome)
 * ```
 *
 * @since 0.1.0
 */
export const tryAcquirePermission = (bulkhead: Bulkhead): Effect.Effect<Option.Option<Permission>> =>
  acquirePermission(bulkhead).pipe(
    Effect.map(Option.some),
    Effect.catchTag("BulkheadFullError", () => Effect.succeed(Option.none()))
  )

/**
 * The bulkhead as a {@link Policy}, for `Policy.compose`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * const guard = Bulkhead.policy(bulkhead)
 * const guarded = guard(Effect.succeed(1))
 * ```
 *
 * @since 0.1.0
 */
export const policy = (bulkhead: Bulkhead): Policy<BulkheadFullError> => (self) => withBulkhead(self, bulkhead)

/**
 * A Layer that builds the bulkhead for a service tag; the bulkhead lives as long as the layer.
 *
 * @example
 * ```ts
 * import { Context, Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * class DbBulkhead extends Context.Tag("DbBulkhead")<DbBulkhead, Bulkhead.Bulkhead>() {}
 *
 * const DbBulkheadLive = Bulkhead.layer(DbBulkhead, { name: "db", maxConcurrentCalls: 10 })
 * const program = Effect.flatMap(DbBulkhead, (bulkhead) => bulkhead.metrics).pipe(Effect.provide(DbBulkheadLive))
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I>(tag: Context.Tag<I, Bulkhead>, options: Options): Layer.Layer<I, InvalidConfigError> =>
  Layer.scoped(tag, make(options))

/**
 * The options read through `effect/Config` under the namespace `name`, e.g. the keys
 * `db.maxConcurrentCalls` from JSON, or `DB_MAX_CONCURRENT_CALLS` from the environment with
 * `ConfigProvider.fromEnv().pipe(ConfigProvider.constantCase)`. Absent keys take the defaults; the
 * values are checked by the same Schema as {@link make}'s.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ db: { maxConcurrentCalls: 10, maxWaitDuration: "100 millis" } })
 * const options = Effect.withConfigProvider(Bulkhead.config("db"), provider)
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Options> =>
  Config.nested(readFields(configFields), name).pipe(Config.map((values) => ({ ...values, name }) as Options))

/**
 * Like {@link layer}, with the options read from `effect/Config` (see {@link config}); `code`
 * overrides what was read. Bad values fail with `InvalidConfigError` naming the field; unreadable ones
 * with `ConfigError`.
 *
 * @example
 * ```ts
 * import { Context } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * class DbBulkhead extends Context.Tag("DbBulkhead")<DbBulkhead, Bulkhead.Bulkhead>() {}
 *
 * const DbBulkheadLive = Bulkhead.layerConfig(DbBulkhead, Bulkhead.config("db"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I>(
  tag: Context.Tag<I, Bulkhead>,
  options: Config.Config<Options>,
  code?: Changes
): Layer.Layer<I, InvalidConfigError | ConfigError.ConfigError> =>
  Layer.scoped(tag, Effect.flatMap(options, (read) => make({ ...read, ...code })))
