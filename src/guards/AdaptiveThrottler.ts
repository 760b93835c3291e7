/**
 * Client-side adaptive throttling, from Google's SRE book ("Handling Overload"): the client counts,
 * over a trailing `window`, the requests it attempted and the requests the dependency accepted, and
 * refuses a new request locally, before sending it, with probability
 * `max(0, (requests - k × accepts) / (requests + 1))`.
 *
 * While the dependency accepts everything the probability is 0. When it starts rejecting, the client
 * sheds the excess itself instead of paying a round trip per rejection: the load that reaches the
 * dependency falls to about `k` times what it accepts. `k` = 2 (the default, the book's) leaves room
 * for the dependency to recover; a `k` closer to 1 sheds harder.
 *
 * ## When to use
 * In a client of a dependency that rejects cheaply when overloaded (429, 503, "resource exhausted"),
 * especially with many clients: each throttles itself without coordination.
 *
 * ## Gotchas
 * - Which failures are rejections is `isRejection` (default: every typed failure and defect). A 404
 *   or a validation error is an answer, not a rejection: say so, or the throttler will shed.
 * - A request counts when it is sent (the book counts requests attempted), in the bucket of that
 *   moment, and its accept when it completes, in the bucket of the completion (so, briefly, accepts
 *   can outnumber requests). While in flight it is in `requests` but not held against the dependency:
 *   the probability is computed over answered (and locally refused) requests only. Otherwise a fresh
 *   client's first burst throttles itself: n calls in flight and no answer yet give n/(n+1), and 194
 *   of 200 concurrent first calls were refused. The price: a dependency that hangs rather than
 *   rejects is throttled only once the calls end (put a `TimeLimiter` inside the throttler).
 * - Requests refused locally count as requests (the book's definition): that is what keeps the
 *   probability up while the dependency stays sick, and lets it fall as accepts come back.
 * - Local refusals by breakwater's guards inside it (`CallNotPermittedError`, `RequestNotPermittedError`,
 *   `BulkheadFullError`, `LimitExceededError`, `ThrottledError`) never reached the dependency: their
 *   requests are taken back, whatever `isRejection` says.
 * - A call interrupted by its caller was attempted, so it stays in `requests` (as in flight, until it
 *   leaves the window), but it is never held against the dependency, which neither accepted nor
 *   rejected it: counting it as a rejection would let a `Hedge`'s interrupted losers throttle a
 *   healthy dependency. So put a `TimeLimiter` inside the throttler, where its `TimeoutExceededError`
 *   counts as a rejection, not outside it.
 * - The draw is made with Effect's `Random`: under `Effect.withRandom(Random.make(seed))` the same
 *   calls are throttled on every run.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveThrottler } from "breakwater"
 *
 * const fetchQuote = Effect.succeed(42)
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const throttler = yield* AdaptiveThrottler.make({ name: "quotes", k: 2, window: "1 minute" })
 *     return yield* fetchQuote.pipe(AdaptiveThrottler.withAdaptiveThrottler(throttler))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import {
  type ConfigFailure,
  currentClock,
  decodeOptions,
  type DurationInput,
  failureOf,
  isInterruptOnly,
  layerScoped,
  nowMillis,
  readFields,
  restoreDefaults,
  type ServiceKey,
  toDuration
} from "#port"
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { isLocalRefusal } from "../core/refusals.js"
import { ThrottlerCore } from "../core/throttlerCore.js"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { withoutStackTrace } from "../shared/internal/errors.js"
import { type EventHub, makeEventHub } from "../shared/internal/eventHub.js"
import type { Policy } from "../shared/Policy.js"
import { ThrottlerChangesSchema, throttlerConfigFields, ThrottlerOptionsSchema } from "./internal/adaptiveConfig.js"

const defaults = Schema.decodeSync(ThrottlerOptionsSchema)({ name: "defaults" })

/**
 * The throttler's options.
 *
 * @example
 * ```ts
 * import type { AdaptiveThrottler } from "breakwater"
 *
 * const options: AdaptiveThrottler.Options = {
 *   name: "quotes",
 *   k: 1.5,
 *   isRejection: (e) => (e as { status?: number }).status === 503
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  readonly name: string
  /** The accepts multiplier, >= 1. Default 2. */
  readonly k?: number
  /** How far back requests and accepts are counted, at least 1 second. Default 2 minutes. */
  readonly window?: DurationInput
  /**
   * Which typed failures are the dependency rejecting the call. Default: all; defects always are;
   * breakwater's local refusals never are (they did not reach it).
   */
  readonly isRejection?: (error: unknown) => boolean
}

/**
 * New settings for a running throttler; absent fields stay as they are.
 *
 * @example
 * ```ts
 * import type { AdaptiveThrottler } from "breakwater"
 *
 * const harder: AdaptiveThrottler.Changes = { k: 1.1 }
 * ```
 *
 * @since 0.1.0
 */
export type Changes = Omit<Options, "name">

/**
 * The throttler's figures, read now.
 *
 * @example
 * ```ts
 * import type { AdaptiveThrottler } from "breakwater"
 *
 * const acceptRate = (m: AdaptiveThrottler.Metrics) => m.accepts / Math.max(1, m.requests)
 * ```
 *
 * @since 0.1.0
 */
export interface Metrics {
  /** Requests attempted within the window (including those throttled and those still in flight). */
  readonly requests: number
  /** Of `requests`, those still waiting for the dependency's answer (not yet held against it). */
  readonly inFlight: number
  /** Requests the dependency accepted within the window. */
  readonly accepts: number
  /** The probability that the next request is refused locally. */
  readonly rejectionProbability: number
  /** Requests refused locally since creation. */
  readonly throttledCalls: number
  /** Requests the dependency answered since creation (sent and completed), and those it rejected. */
  readonly sentCalls: number
  readonly rejectedCalls: number
}

/**
 * A call refused locally: the dependency has been rejecting, and this call lost the draw.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveThrottler } from "breakwater"
 *
 * const fallback = (self: Effect.Effect<number, AdaptiveThrottler.ThrottledError>) =>
 *   self.pipe(Effect.catchTag("ThrottledError", () => Effect.succeed(0)))
 * ```
 *
 * @since 0.1.0
 */
export class ThrottledError extends Data.TaggedError("ThrottledError")<{
  readonly throttlerName: string
  readonly rejectionProbability: number
  readonly retryAfter: Option.Option<Duration.Duration>
}> {
  override get message(): string {
    return `AdaptiveThrottler '${this.throttlerName}' refused the call locally (rejection probability ${
      this.rejectionProbability.toFixed(2)
    })`
  }
}

/**
 * What a throttler reports: each call refused locally (a rare event).
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { AdaptiveThrottler } from "breakwater"
 *
 * const logThrottled = (throttler: AdaptiveThrottler.AdaptiveThrottler) =>
 *   throttler.events.pipe(Stream.runForEach((e) => Effect.logWarning(`throttled at p=${e.rejectionProbability}`)))
 * ```
 *
 * @since 0.1.0
 */
export type Event = Data.TaggedEnum<{
  CallThrottled: { readonly throttlerName: string; readonly at: number; readonly rejectionProbability: number }
}>

/**
 * Constructors and guards for {@link Event}.
 *
 * @example
 * ```ts
 * import { AdaptiveThrottler } from "breakwater"
 *
 * const isThrottled = AdaptiveThrottler.Event.$is("CallThrottled")
 * ```
 *
 * @since 0.1.0
 */
export const Event = Data.taggedEnum<Event>()

/**
 * A running throttler. Obtain one with {@link make}; guard calls with {@link withAdaptiveThrottler}
 * or {@link policy}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveThrottler } from "breakwater"
 *
 * const report = (throttler: AdaptiveThrottler.AdaptiveThrottler) =>
 *   Effect.flatMap(throttler.metrics, (m) => Effect.log(`p(reject) = ${m.rejectionProbability}`))
 * ```
 *
 * @since 0.1.0
 */
export interface AdaptiveThrottler {
  readonly kind: "AdaptiveThrottler"
  readonly name: string
  readonly metrics: Effect.Effect<Metrics>
  readonly events: Stream.Stream<Event>
  /**
   * Subscribes now, in the caller's `Scope`, and returns the events from that moment. Use it where
   * the first event matters: `events` subscribes only when the stream starts running, so a fiber
   * forked to read it may attach after the event (`Effect.yieldNow()` does not guarantee otherwise);
   * after `const events = yield* guard.subscribe`, nothing is missed.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<Event>, never, Scope.Scope>
  /** Changes the settings in place; the counts in the window are kept. */
  readonly reconfigure: (changes: Changes) => Effect.Effect<void, InvalidConfigError>
}

type Decoded = typeof ThrottlerOptionsSchema.Type

class AdaptiveThrottlerImpl implements AdaptiveThrottler {
  readonly kind = "AdaptiveThrottler" as const
  readonly core: ThrottlerCore
  private isRejection: ((error: unknown) => boolean) | undefined
  throttledCalls = 0
  sentCalls = 0
  rejectedCalls = 0

  constructor(
    readonly name: string,
    public config: Decoded,
    private readonly clock: Clock.Clock,
    readonly hub: EventHub<Event>
  ) {
    this.core = new ThrottlerCore(Duration.toMillis(config.window), config.k, nowMillis(clock))
    this.isRejection = config.isRejection as ((error: unknown) => boolean) | undefined
  }

  guard<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | ThrottledError, R> {
    return Effect.suspend((): Effect.Effect<A, E | ThrottledError, R> => {
      const now = nowMillis(this.clock)
      const p = this.core.probability(now)
      if (p <= 0) return this.send(self, now)
      return Effect.flatMap(
        Random.next,
        (draw): Effect.Effect<A, E | ThrottledError, R> =>
          draw < p ? this.throttle(p) : this.send(self, nowMillis(this.clock))
      )
    })
  }

  /**
   * Counts the request now, then its answer. Not masked (a mask doubles the cost of the fast path): a
   * call interrupted from outside stays in flight until its bucket leaves the window, which never
   * weighs on the probability.
   */
  private send<A, E, R>(self: Effect.Effect<A, E, R>, now: number): Effect.Effect<A, E, R> {
    const bucket = this.core.request(now)
    return Effect.matchCauseEffect(self, {
      onSuccess: (value) => {
        this.answered(bucket, true)
        return Effect.succeed(value)
      },
      onFailure: (cause) => {
        if (isInterruptOnly(cause)) return Effect.failCause(cause)
        const failure = failureOf(cause)
        if (Option.isSome(failure) && isLocalRefusal(failure.value)) {
          this.core.withdraw(bucket, nowMillis(this.clock))
        } else {
          const accepted = Option.isSome(failure) && this.isRejection !== undefined &&
            !this.isRejection(failure.value)
          this.answered(bucket, accepted)
        }
        return Effect.failCause(cause)
      }
    })
  }

  /** The dependency answered a request sent earlier (already counted): an accept, or a rejection. */
  private answered(bucket: number, accepted: boolean): void {
    this.sentCalls++
    if (!accepted) this.rejectedCalls++
    this.core.answer(bucket, nowMillis(this.clock), accepted)
  }

  private throttle(p: number): Effect.Effect<never, ThrottledError> {
    const now = nowMillis(this.clock)
    this.core.record(now, false)
    this.throttledCalls++
    if (this.hub.listening) {
      this.hub.unsafeOffer(Event.CallThrottled({ throttlerName: this.name, at: now, rejectionProbability: p }))
    }
    return Effect.fail(
      withoutStackTrace(() =>
        new ThrottledError({ throttlerName: this.name, rejectionProbability: p, retryAfter: Option.none() })
      )
    )
  }

  readonly metrics: Effect.Effect<Metrics> = Effect.sync(() => {
    const rejectionProbability = this.core.probability(nowMillis(this.clock))
    return {
      requests: this.core.requests,
      inFlight: this.core.inFlight,
      accepts: this.core.accepts,
      rejectionProbability,
      throttledCalls: this.throttledCalls,
      sentCalls: this.sentCalls,
      rejectedCalls: this.rejectedCalls
    }
  })

  get events(): Stream.Stream<Event> {
    return this.hub.stream
  }

  get subscribe(): Effect.Effect<Stream.Stream<Event>, never, Scope.Scope> {
    return this.hub.subscribed
  }

  readonly reconfigure = (changes: Changes): Effect.Effect<void, InvalidConfigError> =>
    Effect.flatMap(
      decodeOptions(ThrottlerChangesSchema, "AdaptiveThrottler", {
        ...restoreDefaults(changes, defaults),
        name: this.name
      }),
      (decoded) =>
        Effect.sync(() => {
          if (decoded.k !== undefined) this.core.k = decoded.k
          if (decoded.window !== undefined) {
            this.core.setWindow(Duration.toMillis(decoded.window), nowMillis(this.clock))
          }
          if (decoded.isRejection !== undefined) this.isRejection = decoded.isRejection as (error: unknown) => boolean
          this.config = {
            ...this.config,
            ...Object.fromEntries(Object.entries(decoded).filter(([, v]) => v !== undefined))
          }
        })
    )
}

/**
 * Creates a throttler with an empty window (probability 0).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveThrottler } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const throttler = yield* AdaptiveThrottler.make({ name: "quotes" })
 *     return (yield* throttler.metrics).rejectionProbability // 0
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<AdaptiveThrottler, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* decodeOptions(ThrottlerOptionsSchema, "AdaptiveThrottler", options)
    const clock = yield* currentClock
    const hub = yield* makeEventHub<Event>()
    return new AdaptiveThrottlerImpl(config.name, config, clock, hub)
  })

/**
 * Sends `self`, or refuses it locally with `ThrottledError` with the current rejection probability.
 * Dual.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveThrottler } from "breakwater"
 *
 * declare const throttler: AdaptiveThrottler.AdaptiveThrottler
 * const guarded = Effect.succeed(1).pipe(AdaptiveThrottler.withAdaptiveThrottler(throttler))
 * ```
 *
 * @since 0.1.0
 */
export const withAdaptiveThrottler: {
  (throttler: AdaptiveThrottler): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | ThrottledError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, throttler: AdaptiveThrottler): Effect.Effect<A, E | ThrottledError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, throttler: AdaptiveThrottler) =>
    (throttler as AdaptiveThrottlerImpl).guard(self)
)

/**
 * An adaptive throttler's current configuration, defaults filled in.
 *
 * @example
 * ```ts
 * import type { AdaptiveThrottler } from "breakwater"
 *
 * const describe = (config: AdaptiveThrottler.Configuration) => `k = ${config.k}`
 * ```
 *
 * @since 0.1.0
 */
export interface Configuration {
  readonly name: string
  readonly k: number
  readonly window: Duration.Duration
  readonly isRejection: ((error: unknown) => boolean) | undefined
}

/**
 * Reads an adaptive throttler's current configuration back (it changes with `reconfigure`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveThrottler } from "breakwater"
 *
 * declare const throttler: AdaptiveThrottler.AdaptiveThrottler
 * const k = Effect.map(AdaptiveThrottler.configuration(throttler), (config) => config.k)
 * ```
 *
 * @since 0.1.0
 */
export const configuration = (throttler: AdaptiveThrottler): Effect.Effect<Configuration> =>
  Effect.sync(() => {
    const c = (throttler as unknown as {
      readonly config: { readonly k: number; readonly window: DurationInput; readonly isRejection?: unknown }
    }).config
    return {
      name: throttler.name,
      k: c.k,
      window: toDuration(c.window),
      isRejection: c.isRejection as ((error: unknown) => boolean) | undefined
    }
  })

/**
 * The throttler as a {@link Policy}, for `Policy.compose`.
 *
 * @example
 * ```ts
 * import { AdaptiveThrottler, Policy, Retry } from "breakwater"
 *
 * declare const throttler: AdaptiveThrottler.AdaptiveThrottler
 * declare const retry: Retry.Retry
 * const guard = Policy.compose(Retry.policy(retry), AdaptiveThrottler.policy(throttler))
 * ```
 *
 * @since 0.1.0
 */
export const policy = (throttler: AdaptiveThrottler): Policy<ThrottledError> => (self) =>
  withAdaptiveThrottler(self, throttler)

/**
 * A Layer that builds the throttler for a service tag.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context } from "effect"
 * import { AdaptiveThrottler } from "breakwater"
 *
 * class QuotesThrottler extends Context.Tag("QuotesThrottler")<QuotesThrottler, AdaptiveThrottler.AdaptiveThrottler>() {}
 *
 * const QuotesThrottlerLive = AdaptiveThrottler.layer(QuotesThrottler, { name: "quotes" })
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context } from "effect"
 * import { AdaptiveThrottler } from "breakwater"
 *
 * class QuotesThrottler extends Context.Service<QuotesThrottler, AdaptiveThrottler.AdaptiveThrottler>()("QuotesThrottler") {}
 *
 * const QuotesThrottlerLive = AdaptiveThrottler.layer(QuotesThrottler, { name: "quotes" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I>(
  tag: ServiceKey<I, AdaptiveThrottler>,
  options: Options
): Layer.Layer<I, InvalidConfigError> => layerScoped(tag, make(options))

/**
 * The options read through `effect/Config` under the namespace `name` (`quotes.k`, `quotes.window`).
 *
 * @example
 * ```ts
 * // Effect 3
 * import { ConfigProvider, Effect } from "effect"
 * import { AdaptiveThrottler } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ quotes: { k: 1.5, window: "30 seconds" } })
 * const options = Effect.withConfigProvider(AdaptiveThrottler.config("quotes"), provider)
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Effect } from "effect"
 * import { AdaptiveThrottler } from "breakwater"
 *
 * const provider = ConfigProvider.fromUnknown({ quotes: { k: 1.5, window: "30 seconds" } })
 * const options = Effect.provideService(AdaptiveThrottler.config("quotes"), ConfigProvider.ConfigProvider, provider)
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Options> =>
  Config.nested(readFields(throttlerConfigFields), name).pipe(Config.map((values) => ({ ...values, name }) as Options))

/**
 * Like {@link layer}, with the options read from `effect/Config`; `code` overrides what was read.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context } from "effect"
 * import { AdaptiveThrottler } from "breakwater"
 *
 * class QuotesThrottler extends Context.Tag("QuotesThrottler")<QuotesThrottler, AdaptiveThrottler.AdaptiveThrottler>() {}
 *
 * const QuotesThrottlerLive = AdaptiveThrottler.layerConfig(QuotesThrottler, AdaptiveThrottler.config("quotes"))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context } from "effect"
 * import { AdaptiveThrottler } from "breakwater"
 *
 * class QuotesThrottler extends Context.Service<QuotesThrottler, AdaptiveThrottler.AdaptiveThrottler>()("QuotesThrottler") {}
 *
 * const QuotesThrottlerLive = AdaptiveThrottler.layerConfig(QuotesThrottler, AdaptiveThrottler.config("quotes"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I>(
  tag: ServiceKey<I, AdaptiveThrottler>,
  options: Config.Config<Options>,
  code?: Changes
): Layer.Layer<I, InvalidConfigError | ConfigFailure> =>
  layerScoped(tag, Effect.flatMap(options, (read) => make({ ...read, ...code })))
