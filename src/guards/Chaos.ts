/**
 * Fault injection as a policy: a failure, a defect, added latency, a replacement result or a side
 * effect, injected into a configured fraction of calls, so that a team can rehearse an outage in
 * staging and watch its breakers, limiters and retries react.
 *
 * ## When to use
 * Innermost in a `Policy.compose` (or in the bulkhead's place in `Policy.ordered`), standing in for
 * the dependency misbehaving: every guard outside it sees the injected fault as the dependency's.
 *
 * ## Gotchas
 * - The decision per call is drawn from Effect's `Random` service: under
 *   `Effect.withRandom(Random.make(seed))` (Effect 4: `Random.withSeed(seed)`; or `TestRandom`) the
 *   same calls are hit on every run. One number is drawn per call while enabled, whatever the rate, so
 *   with one seed the calls hit at a lower rate are a subset of those hit at a higher one.
 * - Latency is slept on `Clock` (`TestClock` controls it); the call still runs afterwards. A failure,
 *   a defect or a replacement result stands in for the call, which does not run.
 * - The default rate is small (1%), and `enabled` can be flipped at runtime with `setEnabled` or
 *   `reconfigure` (from a config reload, an admin endpoint, ...).
 * - A replacement result is returned as the guarded call's value: the policy only guards calls whose
 *   value type is the replacement's.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chaos, CircuitBreaker, Policy } from "breakwater"
 *
 * class Unavailable {
 *   readonly _tag = "Unavailable"
 * }
 * const callInventory = Effect.succeed({ stock: 3 })
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const breaker = yield* CircuitBreaker.make({ name: "inventory", minimumNumberOfCalls: 10 })
 *     const chaos = yield* Chaos.make({ name: "inventory-outage", fault: Chaos.failure(new Unavailable()), rate: 0.5 })
 *     const guard = Policy.compose(CircuitBreaker.policy(breaker), Chaos.policy(chaos))
 *     return yield* guard(callInventory)
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import { type ConfigFailure, decodeOptions, type DurationInput, readFields, type ServiceKey } from "#port"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import type { Policy } from "../shared/Policy.js"
import { ChangesSchema, configFields, OptionsSchema } from "./internal/chaosConfig.js"

/**
 * What a chaos policy injects; build one with {@link failure}, {@link defect}, {@link latency},
 * {@link result} or {@link behavior}.
 *
 * @example
 * ```ts
 * import { Chaos } from "breakwater"
 *
 * const slow: Chaos.Fault = Chaos.latency("2 seconds")
 * ```
 *
 * @since 0.1.0
 */
export type Fault<E = never, A = unknown> =
  | { readonly _tag: "Failure"; readonly error: E }
  | { readonly _tag: "Defect"; readonly defect: unknown }
  | { readonly _tag: "Latency"; readonly latency: DurationInput }
  | { readonly _tag: "Result"; readonly value: A }
  | { readonly _tag: "Behavior"; readonly effect: Effect.Effect<void> }

/**
 * Fails the call with `error` instead of running it.
 *
 * @example
 * ```ts
 * import { Data } from "effect"
 * import { Chaos } from "breakwater"
 *
 * class Unavailable extends Data.TaggedError("Unavailable") {}
 * const fault = Chaos.failure(new Unavailable())
 * ```
 *
 * @since 0.1.0
 */
export const failure = <E>(error: E): Fault<E> => ({ _tag: "Failure", error })

/**
 * Dies with `defect` instead of running the call (a bug in the dependency's client, say).
 *
 * @example
 * ```ts
 * import { Chaos } from "breakwater"
 *
 * const fault = Chaos.defect(new Error("socket hang up"))
 * ```
 *
 * @since 0.1.0
 */
export const defect = (defect: unknown): Fault => ({ _tag: "Defect", defect })

/**
 * Sleeps `latency` on `Clock`, then runs the call.
 *
 * @example
 * ```ts
 * import { Chaos } from "breakwater"
 *
 * const fault = Chaos.latency("3 seconds")
 * ```
 *
 * @since 0.1.0
 */
export const latency = (latency: DurationInput): Fault => ({ _tag: "Latency", latency })

/**
 * Returns `value` instead of running the call (a 200 with an empty body, a stale record, ...).
 *
 * @example
 * ```ts
 * import { Chaos } from "breakwater"
 *
 * const fault = Chaos.result<ReadonlyArray<string>>([])
 * ```
 *
 * @since 0.1.0
 */
export const result = <A>(value: A): Fault<never, A> => ({ _tag: "Result", value })

/**
 * Runs `effect` (a side effect: log, kill a connection, fill a cache) before the call.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chaos } from "breakwater"
 *
 * const fault = Chaos.behavior(Effect.logWarning("chaos: dropping the connection pool"))
 * ```
 *
 * @since 0.1.0
 */
export const behavior = (effect: Effect.Effect<void>): Fault => ({ _tag: "Behavior", effect })

/**
 * The policy's options. `rate` is the probability per call, in [0, 1] (default 0.01); `enabled`
 * (default true) can be flipped later with `setEnabled` or `reconfigure`.
 *
 * @example
 * ```ts
 * import { Chaos } from "breakwater"
 *
 * const options: Chaos.Options = { name: "slow-db", fault: Chaos.latency("500 millis"), rate: 0.1, enabled: false }
 * ```
 *
 * @since 0.1.0
 */
export interface Options<E = never, A = unknown> {
  readonly name: string
  readonly fault: Fault<E, A>
  readonly rate?: number
  readonly enabled?: boolean
}

/**
 * What can change at runtime: the rate and the switch.
 *
 * @example
 * ```ts
 * import type { Chaos } from "breakwater"
 *
 * const calmDown: Chaos.Changes = { rate: 0.001 }
 * ```
 *
 * @since 0.1.0
 */
export interface Changes {
  readonly rate?: number
  readonly enabled?: boolean
}

/**
 * What the policy has done since it was made: calls seen (enabled or not) and faults injected.
 *
 * @example
 * ```ts
 * import type { Chaos } from "breakwater"
 *
 * const share = (m: Chaos.Metrics) => m.numberOfInjectedFaults / Math.max(1, m.numberOfCalls)
 * ```
 *
 * @since 0.1.0
 */
export interface Metrics {
  readonly numberOfCalls: number
  readonly numberOfInjectedFaults: number
  readonly rate: number
  readonly enabled: boolean
}

/**
 * A running chaos policy. Obtain one with {@link make}; guard calls with {@link policy} or
 * {@link withChaos}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Chaos } from "breakwater"
 *
 * const endRehearsal = (chaos: Chaos.Chaos) =>
 *   Effect.andThen(chaos.setEnabled(false), Effect.flatMap(chaos.metrics, (m) => Effect.log(m)))
 * ```
 *
 * @since 0.1.0
 */
export interface Chaos<out E = never, out A = unknown> {
  readonly kind: "Chaos"
  readonly name: string
  readonly fault: Fault<E, A>
  readonly metrics: Effect.Effect<Metrics>
  readonly enabled: Effect.Effect<boolean>
  readonly setEnabled: (enabled: boolean) => Effect.Effect<void>
  /** Changes the rate or the switch; bad values fail with `InvalidConfigError` and change nothing. */
  readonly reconfigure: (changes: Changes) => Effect.Effect<void, InvalidConfigError>
}

class ChaosImpl<E, A> implements Chaos<E, A> {
  readonly kind = "Chaos" as const
  private calls = 0
  private injected = 0

  constructor(
    readonly name: string,
    readonly fault: Fault<E, A>,
    private rate: number,
    private on: boolean
  ) {}

  readonly metrics: Effect.Effect<Metrics> = Effect.sync(() => ({
    numberOfCalls: this.calls,
    numberOfInjectedFaults: this.injected,
    rate: this.rate,
    enabled: this.on
  }))

  readonly enabled: Effect.Effect<boolean> = Effect.sync(() => this.on)

  readonly setEnabled = (enabled: boolean): Effect.Effect<void> =>
    Effect.sync(() => {
      this.on = enabled
    })

  readonly reconfigure = (changes: Changes): Effect.Effect<void, InvalidConfigError> =>
    Effect.map(decodeOptions(ChangesSchema, "Chaos", changes), (next) => {
      if (next.rate !== undefined) this.rate = next.rate
      if (next.enabled !== undefined) this.on = next.enabled
    })

  guard<A2, E2, R>(self: Effect.Effect<A2, E2, R>): Effect.Effect<A2, E2 | E, R> {
    return Effect.suspend(() => {
      this.calls++
      if (!this.on) return self
      return Effect.flatMap(Random.next, (draw) => draw < this.rate ? this.inject(self) : self)
    })
  }

  private inject<A2, E2, R>(self: Effect.Effect<A2, E2, R>): Effect.Effect<A2, E2 | E, R> {
    this.injected++
    const fault = this.fault
    switch (fault._tag) {
      case "Failure":
        return Effect.fail(fault.error)
      case "Defect":
        return Effect.die(fault.defect)
      case "Latency":
        return Effect.andThen(Effect.sleep(fault.latency), self)
      case "Result":
        // The policy's type admits only calls whose value type is the replacement's.
        return Effect.succeed(fault.value as unknown as A2)
      case "Behavior":
        return Effect.andThen(fault.effect, self)
    }
  }
}

/**
 * Creates a chaos policy. Fails with `InvalidConfigError` naming every bad field (a rate outside
 * [0, 1], an unknown fault, a negative latency, ...).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chaos } from "breakwater"
 *
 * const program = Effect.gen(function*() {
 *   const chaos = yield* Chaos.make({ name: "flaky", fault: Chaos.failure("boom" as const), rate: 0.2 })
 *   return yield* Effect.succeed("ok").pipe(Chaos.withChaos(chaos)) // fails with "boom" about 1 call in 5
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make = <E = never, A = unknown>(options: Options<E, A>): Effect.Effect<Chaos<E, A>, InvalidConfigError> =>
  Effect.map(
    decodeOptions(OptionsSchema, "Chaos", options),
    (config) => new ChaosImpl<E, A>(config.name, options.fault, config.rate, config.enabled)
  )

/**
 * Runs `self` under the chaos policy: while enabled, with probability `rate`, the fault is injected.
 * Dual.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chaos } from "breakwater"
 *
 * declare const chaos: Chaos.Chaos<"boom">
 * const call = Effect.succeed(1).pipe(Chaos.withChaos(chaos)) // Effect<number, "boom">
 * ```
 *
 * @since 0.1.0
 */
export const withChaos: {
  <E, AR>(chaos: Chaos<E, AR>): <A extends AR, E2, R>(self: Effect.Effect<A, E2, R>) => Effect.Effect<A, E | E2, R>
  <A extends AR, E2, R, E, AR>(self: Effect.Effect<A, E2, R>, chaos: Chaos<E, AR>): Effect.Effect<A, E | E2, R>
} = dual(
  2,
  <A, E2, R, E, AR>(self: Effect.Effect<A, E2, R>, chaos: Chaos<E, AR>) =>
    (chaos as unknown as ChaosImpl<E, AR>).guard(self)
)

/**
 * The chaos policy as a {@link Policy}, to place innermost in `Policy.compose`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chaos, Policy, Retry } from "breakwater"
 *
 * declare const retry: Retry.Retry
 * declare const chaos: Chaos.Chaos<"boom">
 * const guard = Policy.compose(Retry.policy(retry), Chaos.policy(chaos))
 * const call = guard(Effect.succeed(1))
 * ```
 *
 * @since 0.1.0
 */
export const policy = <E, A>(chaos: Chaos<E, A>): Policy<E, never, unknown, A> => (self) => withChaos(self, chaos)

/**
 * A Layer that builds the chaos policy for a service tag.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context } from "effect"
 * import { Chaos } from "breakwater"
 *
 * class DbChaos extends Context.Tag("DbChaos")<DbChaos, Chaos.Chaos>() {}
 *
 * const DbChaosLive = Chaos.layer(DbChaos, { name: "db", fault: Chaos.latency("1 second"), enabled: false })
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context } from "effect"
 * import { Chaos } from "breakwater"
 *
 * class DbChaos extends Context.Service<DbChaos, Chaos.Chaos>()("DbChaos") {}
 *
 * const DbChaosLive = Chaos.layer(DbChaos, { name: "db", fault: Chaos.latency("1 second"), enabled: false })
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I, E, A>(
  tag: ServiceKey<I, Chaos<E, A>>,
  options: Options<E, A>
): Layer.Layer<I, InvalidConfigError> => Layer.effect(tag, make(options))

/**
 * The runtime settings (`rate`, `enabled`) read through `effect/Config` under the namespace `name`,
 * e.g. `CHAOS_ENABLED=true` from the environment with `ConfigProvider.constantCase`. The fault
 * itself comes from code.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { ConfigProvider, Effect } from "effect"
 * import { Chaos } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ chaos: { rate: 0.05, enabled: true } })
 * const settings = Effect.withConfigProvider(Chaos.config("chaos"), provider)
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Effect } from "effect"
 * import { Chaos } from "breakwater"
 *
 * const provider = ConfigProvider.fromUnknown({ chaos: { rate: 0.05, enabled: true } })
 * const settings = Effect.provideService(Chaos.config("chaos"), ConfigProvider.ConfigProvider, provider)
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Changes> =>
  Config.nested(readFields(configFields), name) as Config.Config<Changes>

/**
 * Like {@link layer}, with the rate and the switch read from `effect/Config` (see {@link config}) over
 * `options`' own. Bad values fail with `InvalidConfigError` naming the field; unreadable ones with
 * `ConfigError`.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context } from "effect"
 * import { Chaos } from "breakwater"
 *
 * class DbChaos extends Context.Tag("DbChaos")<DbChaos, Chaos.Chaos>() {}
 *
 * const DbChaosLive = Chaos.layerConfig(DbChaos, Chaos.config("chaos"), { name: "db", fault: Chaos.latency("1 second") })
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context } from "effect"
 * import { Chaos } from "breakwater"
 *
 * class DbChaos extends Context.Service<DbChaos, Chaos.Chaos>()("DbChaos") {}
 *
 * const DbChaosLive = Chaos.layerConfig(DbChaos, Chaos.config("chaos"), { name: "db", fault: Chaos.latency("1 second") })
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I, E, A>(
  tag: ServiceKey<I, Chaos<E, A>>,
  settings: Config.Config<Changes>,
  options: Options<E, A>
): Layer.Layer<I, InvalidConfigError | ConfigFailure> =>
  Layer.effect(tag, Effect.flatMap(settings, (read) => make({ ...options, ...read })))
