/**
 * The circuit breaker's side of the {@link Store} interface: the shared state of a breaker and the
 * atomic operations every instance runs on it.
 *
 * ## How instances agree
 * - Every operation carries the caller's {@link CircuitSettings} (as Resilience4j-on-Redis libraries
 *   send their config with each script call): thresholds and windows are evaluated with the settings of
 *   the settings in force. Instances that share a name should share a configuration; when they do not
 *   (a rolling deploy), the settings first stored stay in force and the others are told of the conflict
 *   (`settingsConflict`) until nobody has used the stored ones for 30 seconds, or until settings marked
 *   `takeOver` (a reconfigured breaker's) arrive; then the newcomer's take over (a different window type
 *   or size starts a new Closed window, as `reconfigure` does in process).
 * - Time is the store's: the Redis store reads `TIME`, so process clocks may disagree without changing
 *   when an Open period ends. Replies carry durations relative to the store's clock (`openForMillis`),
 *   never the store's absolute time.
 * - Half-open trial permits are leases that expire after `leaseMillis` unless renewed: the holder renews
 *   its lease every half lease while its call runs, so an instance that dies holding one cannot keep the
 *   circuit half-open, and a live trial keeps its permit however slow it is.
 * - Every change (transition, rate exceeded, reset) is announced to all instances (`subscribe`); an
 *   announcement is a hint to read the state and the changes since (`follow`), never trusted as either.
 * - State the store cannot parse (written by something else) is discarded as lost state: the reply
 *   says so (`stateDiscarded`) and carries a fresh state of a new incarnation.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { StateName } from "../core/circuitMachine.js"
import type { StoreError } from "./internal/storeError.js"

/**
 * The settings a shared breaker's operations are evaluated with (sent with every call).
 *
 * @example
 * ```ts
 * import type { Store } from "breakwater"
 *
 * const settings: Store.CircuitSettings = {
 *   failureRateThreshold: 50,
 *   slowCallRateThreshold: 100,
 *   slowCallDurationThresholdMillis: 60_000,
 *   slidingWindowType: "COUNT_BASED",
 *   slidingWindowSize: 100,
 *   minimumNumberOfCalls: 100,
 *   permittedNumberOfCallsInHalfOpenState: 10,
 *   waitsInOpenMillis: [60_000],
 *   automaticTransitionFromOpenToHalfOpenEnabled: false,
 *   maxWaitInHalfOpenMillis: 0,
 *   transitionToStateAfterWaitDuration: "Open",
 *   leaseMillis: 60_000,
 *   ttlMillis: 3_600_000
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface CircuitSettings {
  readonly failureRateThreshold: number
  readonly slowCallRateThreshold: number
  readonly slowCallDurationThresholdMillis: number
  readonly slidingWindowType: "COUNT_BASED" | "TIME_BASED"
  readonly slidingWindowSize: number
  readonly minimumNumberOfCalls: number
  readonly permittedNumberOfCallsInHalfOpenState: number
  /**
   * The wait in Open after the n-th consecutive opening is element n-1; the last one repeats. A
   * `Schedule` wait is sent as its first steps (a store cannot run a schedule).
   */
  readonly waitsInOpenMillis: ReadonlyArray<number>
  readonly automaticTransitionFromOpenToHalfOpenEnabled: boolean
  /** 0 = no limit. */
  readonly maxWaitInHalfOpenMillis: number
  readonly transitionToStateAfterWaitDuration: "Open" | "Closed"
  /** How long a half-open trial permit stays taken without its result. */
  readonly leaseMillis: number
  /** How long the shared state outlives its last use (refreshed by every operation). */
  readonly ttlMillis: number
  /**
   * These settings replace the stored ones at once, even while other instances use those (sent by a
   * breaker just reconfigured: an explicit change for the fleet).
   */
  readonly takeOver?: boolean | undefined
}

/**
 * The shared state as one operation left it.
 *
 * @example
 * ```ts
 * import type { Store } from "breakwater"
 *
 * const isRefusing = (s: Store.CircuitSnapshot) => s.state === "ForcedOpen" || (s.state === "Open" && s.openForMillis > 0)
 * ```
 *
 * @since 0.1.0
 */
export interface CircuitSnapshot {
  readonly state: StateName
  /** Bumped by every transition (and reset); a call's result is recorded only in its generation. */
  readonly generation: number
  /** Consecutive openings (Resilience4j's `attempts`). */
  readonly attempts: number
  /** Open: milliseconds (store time) until a trial call may be admitted; -1 in other states. */
  readonly openForMillis: number
  /** HalfOpen with a maximum wait: milliseconds until it ends; -1 otherwise. */
  readonly halfOpenForMillis: number
  readonly calls: number
  readonly failed: number
  readonly slow: number
  readonly slowFailed: number
  readonly totalDurationMillis: number
  /** The window's effective minimum number of calls (rates read -1 below it). */
  readonly minimumNumberOfCalls: number
  /** Half-open trial permits currently leased. */
  readonly leases: number
  /** Calls the store refused in the current state (refusals made locally from a cached state are not counted here). */
  readonly notPermitted: number
  /** Bumped by every published change; instances use it to publish each change once. */
  readonly sequence: number
  /**
   * When the shared state was created (store time, µs since the epoch): a state that vanished (TTL, a restart without
   * persistence, a failover) comes back with a new incarnation and generations counted from 0 again.
   */
  readonly incarnation: number
  /**
   * The caller's settings differ from those the shared state is evaluated with (another configuration
   * under the same name, e.g. during a rolling deploy): the stored ones stay in force until nobody has
   * used them for 30 seconds. The waits in Open are not compared (a jittered `Schedule` gives each
   * instance its own).
   */
  readonly settingsConflict: boolean
  /**
   * Set when the stored state did not parse (a wrong type, a field out of range: written by something
   * else than this library) and was discarded: says why. The state in this snapshot is then a fresh one
   * (a new incarnation), exactly as if the stored state had been lost.
   */
  readonly stateDiscarded?: string | undefined
}

/**
 * One change of a shared breaker, published to every instance, in order of `sequence`.
 *
 * @example
 * ```ts
 * import type { Store } from "breakwater"
 *
 * const describe = (c: Store.CircuitChange) => c._tag === "Transition" ? `${c.from} -> ${c.to}` : c._tag
 * ```
 *
 * @since 0.1.0
 */
export type CircuitChange =
  | { readonly _tag: "Transition"; readonly from: StateName; readonly to: StateName; readonly sequence: number }
  | { readonly _tag: "FailureRateExceeded"; readonly rate: number; readonly sequence: number }
  | { readonly _tag: "SlowCallRateExceeded"; readonly rate: number; readonly sequence: number }
  | { readonly _tag: "Reset"; readonly sequence: number }

/**
 * What an operation returns: the state after it and the changes it caused (also published).
 *
 * @example
 * ```ts
 * import type { Store } from "breakwater"
 *
 * const opened = (r: Store.CircuitReply) => r.changes.some((c) => c._tag === "Transition" && c.to === "Open")
 * ```
 *
 * @since 0.1.0
 */
export interface CircuitReply {
  readonly snapshot: CircuitSnapshot
  readonly changes: ReadonlyArray<CircuitChange>
}

/**
 * How a completed call is recorded: `Ignored` records nothing and gives a trial permit back.
 *
 * @example
 * ```ts
 * import type { Store } from "breakwater"
 *
 * const outcome: Store.CallOutcome = "Failure"
 * ```
 *
 * @since 0.1.0
 */
export type CallOutcome = "Success" | "Failure" | "Ignored"

/**
 * The answer to `acquire`: `Trial` holds a leased half-open permit until its result is recorded.
 *
 * @example
 * ```ts
 * import type { Store } from "breakwater"
 *
 * const admitted = (a: Store.CircuitAdmission) => a !== "Refused"
 * ```
 *
 * @since 0.1.0
 */
export type CircuitAdmission = "Permitted" | "Trial" | "Refused"

/**
 * The operations a shared circuit breaker runs on its store. Each is atomic and, on Redis, one round
 * trip. Time-based transitions (Open → HalfOpen when automatic, the half-open maximum wait) happen in
 * whichever operation first runs after they are due.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Store } from "breakwater"
 *
 * const stateOf = (store: Store.CircuitBreakerStore, settings: Store.CircuitSettings) =>
 *   Effect.map(store.read("payments", settings), (snapshot) => snapshot.state)
 * ```
 *
 * @since 0.1.0
 */
export interface CircuitBreakerStore {
  /** The shared state (after any due time-based transition). */
  readonly read: (name: string, settings: CircuitSettings) => Effect.Effect<CircuitSnapshot, StoreError>
  /**
   * `read`, with the changes after `since` that the store still holds (the latest ones, in order): how a
   * subscriber catches up when told the state changed. None when `since` is of another incarnation.
   */
  readonly follow: (
    name: string,
    settings: CircuitSettings,
    since: { readonly incarnation: number; readonly sequence: number }
  ) => Effect.Effect<CircuitReply, StoreError>
  /**
   * Asks to run a call: Open whose wait is over turns HalfOpen first; HalfOpen leases a trial permit
   * under `leaseId` when fewer than the permitted number are leased or recorded.
   */
  readonly acquire: (
    name: string,
    settings: CircuitSettings,
    leaseId: string
  ) => Effect.Effect<CircuitReply & { readonly admission: CircuitAdmission }, StoreError>
  /**
   * Extends the trial permit `leaseId` by `leaseMillis` from now, while its call runs (nothing when it
   * is no longer leased).
   */
  readonly renew: (name: string, settings: CircuitSettings, leaseId: string) => Effect.Effect<CircuitReply, StoreError>
  /**
   * Records a call admitted in `generation` (dropped when that generation has ended, or when its trial
   * lease has expired), then evaluates the thresholds and transitions atomically.
   */
  readonly record: (
    name: string,
    settings: CircuitSettings,
    call: {
      /** The incarnation the call was admitted in (a call from an earlier one is dropped); unchecked when omitted. */
      readonly incarnation?: number | undefined
      readonly generation: number
      readonly durationMillis: number
      readonly outcome: CallOutcome
      readonly leaseId?: string | undefined
    }
  ) => Effect.Effect<CircuitReply, StoreError>
  /**
   * A manual transition; `permitted: false` for the illegal ones (Closed → HalfOpen, MetricsOnly → Open
   * or HalfOpen). `openForMillis` sets the wait of an Open state (and starts a new Open period).
   */
  readonly transition: (
    name: string,
    settings: CircuitSettings,
    to: StateName,
    openForMillis?: number
  ) => Effect.Effect<CircuitReply & { readonly permitted: boolean }, StoreError>
  /** A fresh Closed state with no memory of past openings. */
  readonly reset: (name: string, settings: CircuitSettings) => Effect.Effect<CircuitReply, StoreError>
  /**
   * Calls `onChange` whenever the shared state of `name` may have changed, for as long as the scope
   * lasts: an instance announced a change, or the subscription was lost and is back (changes may have
   * been missed). The subscriber then reads the state (`follow`): an announcement is a hint, never the
   * state, so a forged one can cost a read and nothing else. Resolves once subscribed, or after trying
   * once when the store is down (it keeps trying in the background).
   */
  readonly subscribe: (
    name: string,
    onChange: () => void
  ) => Effect.Effect<void, never, Scope.Scope>
}
