/**
 * A retry budget (Finagle's `RetryBudget`): retries may add at most `percentCanRetry` of the recent
 * request volume (over `ttl`), plus `minRetriesPerSecond` so that a quiet client can still retry.
 *
 * ## When to use
 * Give one to every `Retry` in front of a dependency that may fail for everyone at once. Without a
 * budget, each retrying layer multiplies the load (three layers of 3 attempts send 27 calls per
 * request to a dead dependency); with one, each layer adds at most 20% plus the floor.
 *
 * ## Gotchas
 * - `percentCanRetry` is a fraction, as in Finagle: `0.2` means 20% (values above 1 are refused).
 * - One budget is shared by every `Retry` given it: each guarded call deposits once, each retry
 *   withdraws once. Share one budget per dependency, not one per call site.
 * - The ttl is kept as ten slices from the budget's creation: a deposit or withdrawal expires between
 *   0.9 × ttl and ttl after it was made. Times come from `Clock`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry, RetryBudget } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const budget = yield* RetryBudget.make({ name: "inventory", percentCanRetry: 0.1 })
 *     const retry = yield* Retry.make({ name: "inventory", budget })
 *     return yield* Effect.succeed("stock").pipe(Retry.withRetry(retry))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
// The names that differ between Effect 3 and Effect 4 (this module is compiled for both).
import {
  type ConfigFailure,
  currentClock,
  decodeOptions,
  type DurationInput,
  nowMillis,
  readFields,
  type ServiceKey
} from "#port"
import { type BudgetHandle, type BudgetSettings, RetryBudgetCore, RetryBudgetTypeId } from "../core/retryBudgetCore.js"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { budgetConfigFields, BudgetOptionsSchema } from "./internal/retryBudgetOptions.js"

/**
 * The budget's options, with Finagle's names and defaults.
 *
 * @example
 * ```ts
 * import type { RetryBudget } from "breakwater"
 *
 * const options: RetryBudget.Options = { name: "search", ttl: "30 seconds", minRetriesPerSecond: 5, percentCanRetry: 0.1 }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  readonly name: string
  /** How far back requests and retries are remembered, in [1 s, 60 s]. Default 10 seconds. */
  readonly ttl?: DurationInput
  /** Retries per second always allowed, whatever the volume; ≥ 0. Default 10. */
  readonly minRetriesPerSecond?: number
  /** Retries allowed per request, as a fraction in [0, 1]: 0.2 (the default) = 20%. */
  readonly percentCanRetry?: number
}

/**
 * What the budget holds now. `deposits` and `withdrawals` are those of the last ttl; the totals and
 * `refusals` count since creation.
 *
 * @example
 * ```ts
 * import type { RetryBudget } from "breakwater"
 *
 * const describe = (m: RetryBudget.Metrics) => `${m.availableRetries} retries left, ${m.refusals} refused`
 * ```
 *
 * @since 0.1.0
 */
export interface Metrics {
  /** Retries the budget would grant now (Finagle's `balance`). */
  readonly availableRetries: number
  readonly deposits: number
  readonly withdrawals: number
  readonly totalDeposits: number
  readonly totalWithdrawals: number
  /** Retries refused since creation. */
  readonly refusals: number
}

/**
 * A running budget. Obtain one with {@link make} or {@link layer} and give it to any number of
 * `Retry` instances (their `budget` option); `deposit` and `tryWithdraw` serve hand-written retries.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { RetryBudget } from "breakwater"
 *
 * // A hand-written retry that respects the budget.
 * const once = <A, E>(budget: RetryBudget.RetryBudget, call: Effect.Effect<A, E>) =>
 *   Effect.andThen(budget.deposit, call).pipe(
 *     Effect.matchEffect({
 *       onSuccess: Effect.succeed,
 *       onFailure: (error) => Effect.flatMap(budget.tryWithdraw, (ok) => ok ? call : Effect.fail(error))
 *     })
 *   )
 * ```
 *
 * @since 0.1.0
 */
export interface RetryBudget {
  readonly [RetryBudgetTypeId]: typeof RetryBudgetTypeId
  readonly name: string
  readonly metrics: Effect.Effect<Metrics>
  /** Records one request (a `Retry` does this once per guarded call). */
  readonly deposit: Effect.Effect<void>
  /** Takes one retry if the budget allows it; `false` means refused (and counted). */
  readonly tryWithdraw: Effect.Effect<boolean>
}

class RetryBudgetImpl implements RetryBudget, BudgetHandle {
  readonly [RetryBudgetTypeId]: typeof RetryBudgetTypeId = RetryBudgetTypeId
  readonly core: RetryBudgetCore

  constructor(readonly name: string, settings: BudgetSettings, private readonly clock: Clock.Clock) {
    this.core = new RetryBudgetCore(settings, nowMillis(clock))
  }

  /** Synchronous, for `Retry`'s match handlers. */
  unsafeDeposit(): void {
    this.core.deposit(nowMillis(this.clock))
  }

  unsafeTryWithdraw(): boolean {
    return this.core.tryWithdraw(nowMillis(this.clock))
  }

  readonly deposit: Effect.Effect<void> = Effect.sync(() => this.unsafeDeposit())
  readonly tryWithdraw: Effect.Effect<boolean> = Effect.sync(() => this.unsafeTryWithdraw())

  readonly metrics: Effect.Effect<Metrics> = Effect.sync(() => {
    const core = this.core
    const availableRetries = core.available(nowMillis(this.clock))
    return {
      availableRetries,
      deposits: core.liveDeposits,
      withdrawals: core.liveWithdrawals,
      totalDeposits: core.totalDeposits,
      totalWithdrawals: core.totalWithdrawals,
      refusals: core.refusals
    }
  })
}

/**
 * Creates a budget holding `minRetriesPerSecond × ttl` retries. Fails with `InvalidConfigError`,
 * listing every bad field. Needs no `Scope`: a budget runs no timer (it rolls its window on use).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RetryBudget } from "breakwater"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* RetryBudget.make({ name: "payments" })
 *   const { availableRetries } = yield* budget.metrics // 100: 10 per second over 10 seconds
 *   return availableRetries
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<RetryBudget, InvalidConfigError> =>
  Effect.gen(function*() {
    const config = yield* decodeOptions(BudgetOptionsSchema, "RetryBudget", options)
    const clock = yield* currentClock
    const settings: BudgetSettings = {
      ttlMillis: Duration.toMillis(config.ttl),
      minRetriesPerSecond: config.minRetriesPerSecond,
      percentCanRetry: config.percentCanRetry
    }
    return new RetryBudgetImpl(config.name, settings, clock)
  })

/**
 * A Layer that builds the budget for a service tag.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context, Effect } from "effect"
 * import { RetryBudget } from "breakwater"
 *
 * class PaymentsBudget extends Context.Tag("PaymentsBudget")<PaymentsBudget, RetryBudget.RetryBudget>() {}
 *
 * const PaymentsBudgetLive = RetryBudget.layer(PaymentsBudget, { name: "payments" })
 * const program = Effect.flatMap(PaymentsBudget, (budget) => budget.metrics).pipe(Effect.provide(PaymentsBudgetLive))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context, Effect } from "effect"
 * import { RetryBudget } from "breakwater"
 *
 * class PaymentsBudget extends Context.Service<PaymentsBudget, RetryBudget.RetryBudget>()("PaymentsBudget") {}
 *
 * const PaymentsBudgetLive = RetryBudget.layer(PaymentsBudget, { name: "payments" })
 * const program = Effect.flatMap(PaymentsBudget, (budget) => budget.metrics).pipe(Effect.provide(PaymentsBudgetLive))
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I>(
  tag: ServiceKey<I, RetryBudget>,
  options: Options
): Layer.Layer<I, InvalidConfigError> => Layer.effect(tag, make(options))

/**
 * The options read through `effect/Config` under the namespace `name` (keys `ttl`,
 * `minRetriesPerSecond`, `percentCanRetry`). Absent keys take the defaults; values are checked by the
 * same Schema as {@link make}'s.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { ConfigProvider, Effect } from "effect"
 * import { RetryBudget } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ payments: { percentCanRetry: 0.1, ttl: "30 seconds" } })
 * const options = Effect.withConfigProvider(RetryBudget.config("payments"), provider)
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Effect } from "effect"
 * import { RetryBudget } from "breakwater"
 *
 * const provider = ConfigProvider.fromUnknown({ payments: { percentCanRetry: 0.1, ttl: "30 seconds" } })
 * const options = Effect.provideService(RetryBudget.config("payments"), ConfigProvider.ConfigProvider, provider)
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Options> =>
  readFields(budgetConfigFields).pipe(
    Config.nested(name),
    Config.map((values) => ({ ...values, name }) as Options)
  )

/**
 * Like {@link layer}, with the options read from `effect/Config` (see {@link config}).
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context } from "effect"
 * import { RetryBudget } from "breakwater"
 *
 * class PaymentsBudget extends Context.Tag("PaymentsBudget")<PaymentsBudget, RetryBudget.RetryBudget>() {}
 *
 * const PaymentsBudgetLive = RetryBudget.layerConfig(PaymentsBudget, RetryBudget.config("payments"))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context } from "effect"
 * import { RetryBudget } from "breakwater"
 *
 * class PaymentsBudget extends Context.Service<PaymentsBudget, RetryBudget.RetryBudget>()("PaymentsBudget") {}
 *
 * const PaymentsBudgetLive = RetryBudget.layerConfig(PaymentsBudget, RetryBudget.config("payments"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I>(
  tag: ServiceKey<I, RetryBudget>,
  options: Config.Config<Options>
): Layer.Layer<I, InvalidConfigError | ConfigFailure> => Layer.effect(tag, Effect.flatMap(options, make))
