/**
 * The bulkhead itself: a pure slot core, with callers waiting in order (up to `maxWaitDuration`) for a
 * slot and every slot given back on every exit path.
 *
 * @internal
 */
import { decodeOptions, nowMillis, restoreDefaults } from "#port"
import type * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { BulkheadCore } from "../../core/bulkheadCore.js"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import { withoutStackTrace } from "../../shared/internal/errors.js"
import { type EventHub } from "../../shared/internal/eventHub.js"
import { currentSpan, spanEvent } from "../../shared/internal/observe.js"
import { type Bulkhead, BulkheadFullError, type Changes, Event, type Metrics } from "./bulkheadApi.js"
import { ChangesSchema, OptionsSchema } from "./bulkheadConfig.js"
import { type Restore, waitForSlot, wake } from "./slotWait.js"

/** The defaults, for `reconfigure`'s "undefined means default". */
export const defaults = Schema.decodeSync(OptionsSchema)({ name: "defaults" })

export class BulkheadImpl implements Bulkhead {
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
      return this.maxWaitMillis > 0
        ? waitForSlot(this.core, this.clock, this.maxWaitMillis, restore, () => {
          if (this.hub.subscribers > 0) this.publishNow("CallPermitted")
          return run(restore)
        }, () => this.refuse()) // its wait expired
        : this.refuse()
    })
  }

  /** Gives a slot back: the next waiters (if any) are admitted and woken. */
  private finish(): void {
    const admitted = this.core.release()
    if (admitted.length > 0) wake(admitted)
    if (this.hub.subscribers > 0) this.publishNow("CallFinished")
  }

  private refuse(): Effect.Effect<never, BulkheadFullError> {
    this.rejectedCalls++
    if (this.hub.listening) this.publishNow("CallRejected")
    const span = currentSpan()
    if (span !== undefined) {
      span.attribute("breakwater.bulkhead.decision", "refused")
      spanEvent(span, nowMillis(this.clock), "breakwater.bulkhead.full", {
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
    this.hub.unsafeOffer(Event[tag]({ bulkheadName: this.name, at: nowMillis(this.clock) }))
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
