/**
 * Hedged requests ("The Tail at Scale"): when a call has not answered after a delay, start another
 * attempt beside it; the first success wins and the other attempts are interrupted. A hedge trades a
 * little extra load for a much shorter tail latency.
 *
 * - The delay is fixed (`delay`), or the `percentile` of recent successful attempt durations once
 *   `minSamples` have been measured (`delay` until then): hedging at p95 sends about 5% more calls.
 * - At most `maxHedgedAttempts` extra attempts per call, each `delay` after the previous one.
 * - Every hedge is withdrawn from a `RetryBudget` (the hedge's own, with Finagle's defaults, unless
 *   one is given): each guarded call deposits once, so hedges can never multiply the load, even when
 *   the dependency slows down for everyone. A refused hedge leaves the running attempts alone.
 * - Only for idempotent calls, and the caller says so on every use: {@link withHedge} and
 *   {@link policy} require `{ idempotent: true }`, so a call cannot be hedged by accident.
 *
 * ## When to use
 * For idempotent reads against replicated dependencies whose latency has a long tail (a slow replica,
 * GC pauses, a cold cache): the second attempt often lands on a faster path.
 *
 * ## Gotchas
 * - An attempt that fails while another is still running does not end the call (the other may still
 *   succeed); the call fails with the last failure once no attempt is left running. A hedge is not a
 *   retry: once every started attempt has failed, no new one is started.
 * - Losers are interrupted without being awaited (unlike `Effect.race`): the winner's answer is
 *   returned at once, while a loser that is slow to stop finishes its interruption in the background.
 *   Attempts run as daemon fibers (a fiber that ends awaits its children, so children would hold back
 *   a timeout or a time limiter around the hedge); every one is told to stop once the call has its
 *   answer, and interrupting the caller interrupts and awaits every attempt.
 * - Sharing one budget between a `Retry` and a `Hedge` around the same call deposits twice per call.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge } from "breakwater"
 *
 * const readProfile = (id: string) => Effect.succeed({ id })
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const hedge = yield* Hedge.make({ name: "profiles", percentile: 95, delay: "50 millis" })
 *     return yield* readProfile("42").pipe(Hedge.withHedge(hedge, { idempotent: true }))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import {
  completeNow,
  type ConfigFailure,
  currentClock,
  decodeOptions,
  type DurationInput,
  forkDetach,
  interruptNow,
  invalidConfig,
  layerScoped,
  nowMillis,
  readFields,
  restoreDefaults,
  type RunningFiber,
  type ServiceKey,
  toDuration
} from "#port"
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { LatencySample } from "../core/latencySample.js"
import type { BudgetHandle } from "../core/retryBudgetCore.js"
import { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { type EventHub, makeEventHub } from "../shared/internal/eventHub.js"
import type { Policy } from "../shared/Policy.js"
import { HedgeChangesSchema, hedgeConfigFields, HedgeOptionsSchema } from "./internal/adaptiveConfig.js"
import * as RetryBudget from "./RetryBudget.js"

const defaults = Schema.decodeSync(HedgeOptionsSchema)({ name: "defaults" })

/**
 * The hedge's options.
 *
 * @example
 * ```ts
 * import type { Hedge } from "breakwater"
 *
 * const options: Hedge.Options = { name: "profiles", delay: "20 millis", percentile: 95, maxHedgedAttempts: 2 }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  readonly name: string
  /** The delay before each hedge; with `percentile`, until enough samples are in. Default 100 millis. */
  readonly delay?: DurationInput
  /** Hedge at this percentile of recent attempt durations, in (0, 100). Default: fixed `delay`. */
  readonly percentile?: number | undefined
  /** Extra attempts per call, a whole number >= 0. Default 1. */
  readonly maxHedgedAttempts?: number
  /** Recent successful attempt durations kept for the percentile, at most 100,000. Default 100. */
  readonly sampleSize?: number
  /** Durations needed before the percentile replaces `delay`. Default 20. */
  readonly minSamples?: number
  /** The budget hedges withdraw from. Default: the hedge's own, with Finagle's defaults (10/s + 20%). */
  readonly budget?: RetryBudget.RetryBudget
}

/**
 * New settings for a running hedge; absent fields stay as they are (the budget cannot change).
 *
 * @example
 * ```ts
 * import type { Hedge } from "breakwater"
 *
 * const later: Hedge.Changes = { percentile: 99 }
 * ```
 *
 * @since 0.1.0
 */
export type Changes = Omit<Options, "name">

/**
 * The caller's statement that the call is idempotent: required by {@link withHedge} and
 * {@link policy}, because a hedged call may run more than once.
 *
 * @example
 * ```ts
 * import type { Hedge } from "breakwater"
 *
 * const safe: Hedge.Idempotent = { idempotent: true }
 * ```
 *
 * @since 0.1.0
 */
export interface Idempotent {
  readonly idempotent: true
}

/**
 * The hedge's figures: counters since creation, and the delay it would use now.
 *
 * @example
 * ```ts
 * import type { Hedge } from "breakwater"
 *
 * const winRate = (m: Hedge.Metrics) => m.hedgesWon / Math.max(1, m.hedgesStarted)
 * ```
 *
 * @since 0.1.0
 */
export interface Metrics {
  readonly calls: number
  readonly hedgesStarted: number
  /** Calls won by a hedge rather than by the first attempt. */
  readonly hedgesWon: number
  readonly hedgesRefusedByBudget: number
  /** The delay before a hedge, in millis, as the next call would use it. */
  readonly delayMillis: number
  /** Durations in the percentile's sample. */
  readonly samples: number
}

/**
 * What a hedge reports (all rare events): a hedge started, a call won by a hedge, a hedge refused by
 * the budget. `attempt` counts from 1 for the first hedge.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Hedge } from "breakwater"
 *
 * const logRefusals = (hedge: Hedge.Hedge) =>
 *   hedge.events.pipe(Stream.filter(Hedge.Event.$is("HedgeRefused")), Stream.runForEach(() => Effect.log("budget spent")))
 * ```
 *
 * @since 0.1.0
 */
export type Event = Data.TaggedEnum<{
  HedgeStarted: { readonly hedgeName: string; readonly at: number; readonly attempt: number }
  HedgeWon: { readonly hedgeName: string; readonly at: number; readonly attempt: number }
  HedgeRefused: { readonly hedgeName: string; readonly at: number; readonly attempt: number }
}>

/**
 * Constructors and guards for {@link Event}.
 *
 * @example
 * ```ts
 * import { Hedge } from "breakwater"
 *
 * const isWin = Hedge.Event.$is("HedgeWon")
 * ```
 *
 * @since 0.1.0
 */
export const Event = Data.taggedEnum<Event>()

/**
 * A running hedge. Obtain one with {@link make}; guard calls with {@link withHedge} or {@link policy}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge } from "breakwater"
 *
 * const report = (hedge: Hedge.Hedge) =>
 *   Effect.flatMap(hedge.metrics, (m) => Effect.log(`${hedge.name}: ${m.hedgesWon}/${m.hedgesStarted} hedges won`))
 * ```
 *
 * @since 0.1.0
 */
export interface Hedge {
  readonly kind: "Hedge"
  readonly name: string
  /** The budget its hedges withdraw from. */
  readonly budget: RetryBudget.RetryBudget
  readonly metrics: Effect.Effect<Metrics>
  readonly events: Stream.Stream<Event>
  /**
   * Subscribes now, in the caller's `Scope`, and returns the events from that moment. Use it where
   * the first event matters: `events` subscribes only when the stream starts running, so a fiber
   * forked to read it may attach after the event (`Effect.yieldNow()` does not guarantee otherwise);
   * after `const events = yield* guard.subscribe`, nothing is missed.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<Event>, never, Scope.Scope>
  /** Changes the settings in place; a new `sampleSize` starts a fresh sample. */
  readonly reconfigure: (changes: Changes) => Effect.Effect<void, InvalidConfigError>
}

type Decoded = typeof HedgeOptionsSchema.Type

class HedgeImpl implements Hedge {
  readonly kind = "Hedge" as const
  private sample: LatencySample
  calls = 0
  hedgesStarted = 0
  hedgesWon = 0
  hedgesRefusedByBudget = 0

  constructor(
    readonly name: string,
    public config: Decoded,
    readonly budget: RetryBudget.RetryBudget,
    private readonly clock: Clock.Clock,
    readonly hub: EventHub<Event>
  ) {
    this.sample = new LatencySample(config.sampleSize)
  }

  /** The delay the next call waits before each hedge. */
  delayMillis(): number {
    const { minSamples, percentile } = this.config
    if (percentile !== undefined && this.sample.count >= minSamples) {
      return this.sample.percentile(percentile) ?? Duration.toMillis(this.config.delay)
    }
    return Duration.toMillis(this.config.delay)
  }

  private publish(tag: Event["_tag"], attempt: number): void {
    if (this.hub.listening) {
      this.hub.unsafeOffer(Event[tag]({ hedgeName: this.name, at: nowMillis(this.clock), attempt }))
    }
  }

  guard<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    const clock = this.clock
    const budget = this.budget as unknown as BudgetHandle
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- `Effect.gen(this, …)` differs between Effect 3 and 4
    const hedge = this
    return Effect.suspend(() => {
      this.calls++
      budget.unsafeDeposit()
      const maxHedges = this.config.maxHedgedAttempts
      const delay = Duration.millis(this.delayMillis())
      const fibers: Array<RunningFiber<void>> = []
      return Effect.gen(function*() {
        const done = yield* Deferred.make<A, E>()
        let running = 0
        let winner = 0
        let doneAlready = false
        const settle = (exit: Exit.Exit<A, E>) => {
          doneAlready = true
          completeNow(done, exit)
        }
        const attempt = (index: number) => {
          running++
          const startedAt = nowMillis(clock)
          return Effect.flatMap(Effect.exit(self), (exit) =>
            Effect.sync(() => {
              running--
              if (doneAlready) return
              if (Exit.isSuccess(exit)) {
                hedge.sample.add(nowMillis(clock) - startedAt)
                winner = index
                settle(exit)
              } else if (running === 0) {
                settle(exit)
              }
            }))
        }
        // Daemons, not children: a fiber that ends awaits its children, so a loser slow to stop would
        // hold back whatever runs the hedge in a fiber of its own (a timeout, a race, a time limiter).
        fibers.push(yield* forkDetach(attempt(0)))
        for (let index = 1; index <= maxHedges; index++) {
          const finished = yield* Effect.timeoutOption(Deferred.await(done).pipe(Effect.exit), delay)
          if (Option.isSome(finished) || doneAlready) break
          if (!budget.unsafeTryWithdraw()) {
            hedge.hedgesRefusedByBudget++
            hedge.publish("HedgeRefused", index)
            break
          }
          hedge.hedgesStarted++
          hedge.publish("HedgeStarted", index)
          fibers.push(yield* forkDetach(attempt(index)))
        }
        const exit = yield* Effect.exit(Deferred.await(done))
        // The answer is in: losers are told to stop but not awaited, so an attempt that is slow to
        // interrupt cannot hold the winner back; each still runs its finalizers in the background.
        const self_ = yield* Effect.fiberId
        for (const fiber of fibers) interruptNow(fiber, self_)
        if (winner > 0 && Exit.isSuccess(exit)) {
          hedge.hedgesWon++
          hedge.publish("HedgeWon", winner)
        }
        return yield* exit
      }).pipe(Effect.onInterrupt(() => Fiber.interruptAll(fibers)))
    })
  }

  readonly metrics: Effect.Effect<Metrics> = Effect.sync(() => ({
    calls: this.calls,
    hedgesStarted: this.hedgesStarted,
    hedgesWon: this.hedgesWon,
    hedgesRefusedByBudget: this.hedgesRefusedByBudget,
    delayMillis: this.delayMillis(),
    samples: this.sample.count
  }))

  get events(): Stream.Stream<Event> {
    return this.hub.stream
  }

  get subscribe(): Effect.Effect<Stream.Stream<Event>, never, Scope.Scope> {
    return this.hub.subscribed
  }

  readonly reconfigure = (changes: Changes): Effect.Effect<void, InvalidConfigError> =>
    Effect.flatMap(
      decodeOptions(HedgeChangesSchema, "Hedge", { ...restoreDefaults(changes, defaults), name: this.name }),
      (decoded) => {
        if (decoded.budget !== undefined && decoded.budget !== this.budget) {
          return Effect.fail(
            invalidConfig("Hedge", this.name, [{
              field: "budget",
              value: decoded.budget,
              rule: "cannot change after creation"
            }])
          )
        }
        const { budget: _, name: __, ...given } = decoded
        const present = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined))
        // `percentile` is optional with no default: present-but-undefined turns it off.
        const percentile = "percentile" in changes && changes.percentile === undefined ? { percentile: undefined } : {}
        const next = { ...this.config, ...present, ...percentile, name: this.name }
        return Effect.flatMap(decodeOptions(HedgeOptionsSchema, "Hedge", next), (config) =>
          Effect.sync(() => {
            if (config.sampleSize !== this.config.sampleSize) this.sample = new LatencySample(config.sampleSize)
            this.config = config
          }))
      }
    )
}

/**
 * Creates a hedge; without a `budget`, it makes its own.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge, RetryBudget } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const budget = yield* RetryBudget.make({ name: "reads", percentCanRetry: 0.05 })
 *     const hedge = yield* Hedge.make({ name: "profiles", delay: "30 millis", budget })
 *     return yield* hedge.metrics
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Hedge, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* decodeOptions(HedgeOptionsSchema, "Hedge", options)
    const budget = config.budget === undefined
      ? yield* RetryBudget.make({ name: config.name })
      : config.budget as RetryBudget.RetryBudget
    const clock = yield* currentClock
    const hub = yield* makeEventHub<Event>()
    return new HedgeImpl(config.name, config, budget, clock, hub)
  })

/**
 * Runs `self` hedged: after the delay, another attempt (budget permitting), up to
 * `maxHedgedAttempts`; the first success wins and the rest are interrupted. `{ idempotent: true }` is
 * required; anything else at run time (from untyped code) runs `self` once, unhedged. Dual.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge } from "breakwater"
 *
 * declare const hedge: Hedge.Hedge
 * const read = Effect.succeed("row").pipe(Hedge.withHedge(hedge, { idempotent: true }))
 * const same = Hedge.withHedge(Effect.succeed("row"), hedge, { idempotent: true })
 * ```
 *
 * @since 0.1.0
 */
export const withHedge: {
  (hedge: Hedge, options: Idempotent): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, hedge: Hedge, options: Idempotent): Effect.Effect<A, E, R>
} = dual(
  3,
  <A, E, R>(self: Effect.Effect<A, E, R>, hedge: Hedge, options: Idempotent) =>
    options?.idempotent === true ? (hedge as HedgeImpl).guard(self) : self
)

/**
 * A hedge's current configuration, defaults filled in; `budget` is the name of the budget it draws on.
 *
 * @example
 * ```ts
 * import type { Hedge } from "breakwater"
 *
 * const describe = (config: Hedge.Configuration) => `up to ${config.maxHedgedAttempts} hedges`
 * ```
 *
 * @since 0.1.0
 */
export interface Configuration {
  readonly name: string
  readonly delay: Duration.Duration
  readonly percentile: number | undefined
  readonly maxHedgedAttempts: number
  readonly sampleSize: number
  readonly minSamples: number
  readonly budget: string
}

/**
 * Reads a hedge's current configuration back (it changes with `reconfigure`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Hedge } from "breakwater"
 *
 * declare const hedge: Hedge.Hedge
 * const delay = Effect.map(Hedge.configuration(hedge), (config) => config.delay)
 * ```
 *
 * @since 0.1.0
 */
export const configuration = (hedge: Hedge): Effect.Effect<Configuration> =>
  Effect.sync(() => {
    const c = (hedge as unknown as {
      readonly config: {
        readonly delay: DurationInput
        readonly percentile?: number | undefined
        readonly maxHedgedAttempts: number
        readonly sampleSize: number
        readonly minSamples: number
      }
    }).config
    return {
      name: hedge.name,
      delay: toDuration(c.delay),
      percentile: c.percentile,
      maxHedgedAttempts: c.maxHedgedAttempts,
      sampleSize: c.sampleSize,
      minSamples: c.minSamples,
      budget: hedge.budget.name
    }
  })

/**
 * The hedge as a {@link Policy} for idempotent calls, for `Policy.compose`.
 *
 * @example
 * ```ts
 * import { Hedge, Policy, TimeLimiter } from "breakwater"
 *
 * declare const hedge: Hedge.Hedge
 * declare const timeLimiter: TimeLimiter.TimeLimiter
 * const guard = Policy.compose(TimeLimiter.policy(timeLimiter), Hedge.policy(hedge, { idempotent: true }))
 * ```
 *
 * @since 0.1.0
 */
export const policy = (hedge: Hedge, options: Idempotent): Policy => (self) => withHedge(self, hedge, options)

/**
 * A Layer that builds the hedge for a service tag.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context } from "effect"
 * import { Hedge } from "breakwater"
 *
 * class ProfileHedge extends Context.Tag("ProfileHedge")<ProfileHedge, Hedge.Hedge>() {}
 *
 * const ProfileHedgeLive = Hedge.layer(ProfileHedge, { name: "profiles", percentile: 95 })
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context } from "effect"
 * import { Hedge } from "breakwater"
 *
 * class ProfileHedge extends Context.Service<ProfileHedge, Hedge.Hedge>()("ProfileHedge") {}
 *
 * const ProfileHedgeLive = Hedge.layer(ProfileHedge, { name: "profiles", percentile: 95 })
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I>(tag: ServiceKey<I, Hedge>, options: Options): Layer.Layer<I, InvalidConfigError> =>
  layerScoped(tag, make(options))

/**
 * The options read through `effect/Config` under the namespace `name`; the budget is code only.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { ConfigProvider, Effect } from "effect"
 * import { Hedge } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ profiles: { percentile: 95, delay: 40 } })
 * const options = Effect.withConfigProvider(Hedge.config("profiles"), provider)
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Effect } from "effect"
 * import { Hedge } from "breakwater"
 *
 * const provider = ConfigProvider.fromUnknown({ profiles: { percentile: 95, delay: 40 } })
 * const options = Effect.provideService(Hedge.config("profiles"), ConfigProvider.ConfigProvider, provider)
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Options> =>
  Config.nested(readFields(hedgeConfigFields), name).pipe(Config.map((values) => ({ ...values, name }) as Options))

/**
 * Like {@link layer}, with the options read from `effect/Config`; `code` overrides what was read.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context } from "effect"
 * import { Hedge } from "breakwater"
 *
 * class ProfileHedge extends Context.Tag("ProfileHedge")<ProfileHedge, Hedge.Hedge>() {}
 *
 * const ProfileHedgeLive = Hedge.layerConfig(ProfileHedge, Hedge.config("profiles"))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context } from "effect"
 * import { Hedge } from "breakwater"
 *
 * class ProfileHedge extends Context.Service<ProfileHedge, Hedge.Hedge>()("ProfileHedge") {}
 *
 * const ProfileHedgeLive = Hedge.layerConfig(ProfileHedge, Hedge.config("profiles"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I>(
  tag: ServiceKey<I, Hedge>,
  options: Config.Config<Options>,
  code?: Changes
): Layer.Layer<I, InvalidConfigError | ConfigFailure> =>
  layerScoped(tag, Effect.flatMap(options, (read) => make({ ...read, ...code })))
