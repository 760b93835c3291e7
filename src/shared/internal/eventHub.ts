/**
 * The event hub every guard publishes to: a sliding `PubSub` created on the first subscription, so a
 * guard nobody watches costs no buffer (a keyed limiter may hold many thousands of guards), and a
 * subscriber count the hot paths read before building an event.
 *
 * @internal
 */
import { filterMapOption, publishNow, type Subscription, subscriptionStream, unwrapScoped } from "#port"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type LazyScope, scopeOf } from "./lazyScope.js"

/** Each subscriber's buffer: one that falls further behind loses the oldest events. */
export const EVENT_BUFFER = 1024

export class EventHub<A> {
  /** Live subscriptions; events need only be built while this is above 0. */
  subscribers = 0
  /**
   * Live subscriptions that want only the rare events (transitions, refusals): per-call events are
   * built only for `subscribers`, rare ones while `listening`.
   */
  rareSubscribers = 0

  /** True while anyone wants the rare events (refusals, transitions). */
  get listening(): boolean {
    return this.subscribers > 0 || this.rareSubscribers > 0
  }
  private pubsub: PubSub.PubSub<A> | undefined
  private closed = false

  /** Offers synchronously, in order; an event a full buffer cannot take is dropped. */
  unsafeOffer(event: A): void {
    if (this.pubsub !== undefined) publishNow(this.pubsub, event)
  }

  /** Offers `event`; when a buffer is full, slides the oldest event out instead of dropping this one. */
  publish(event: A): Effect.Effect<void> {
    return Effect.suspend(() => {
      const pubsub = this.pubsub
      if (pubsub === undefined || this.closed || publishNow(pubsub, event)) return Effect.void
      return Effect.asVoid(PubSub.publish(pubsub, event))
    })
  }

  /** `scope` is the guard's: the buffer, once created, is shut down when it closes. */
  constructor(private readonly scope: Scope.Scope | LazyScope) {}

  // Getters rather than fields: a guard nobody watches should not hold these effects (a keyed limiter
  // or breaker may hold many thousands of guards).
  private get subscribe(): Effect.Effect<Subscription<A>, never, Scope.Scope> {
    return Effect.suspend(() => {
      const existing = this.pubsub
      const pubsub = existing !== undefined ? Effect.succeed(existing) : Effect.flatMap(
        PubSub.sliding<A>(EVENT_BUFFER),
        (created) => {
          if (this.pubsub !== undefined) return Effect.succeed(this.pubsub)
          this.pubsub = created
          return Effect.as(
            Effect.flatMap(scopeOf(this.scope), (scope) => Scope.addFinalizer(scope, this.shutdown)),
            created
          )
        }
      )
      return Effect.flatMap(pubsub, PubSub.subscribe)
    })
  }

  /** A subscription that lasts as long as its scope; counted while it lasts. */
  get subscription(): Effect.Effect<Subscription<A>, never, Scope.Scope> {
    return Effect.acquireRelease(
      this.subscribe.pipe(Effect.tap(() => Effect.sync(() => this.subscribers++))),
      () => Effect.sync(() => this.subscribers--)
    )
  }

  /**
   * A subscription that does not make the guard build per-call events: it receives the rare ones,
   * and per-call events only while a full subscriber exists (the reader filters them out).
   */
  get rareSubscription(): Effect.Effect<Subscription<A>, never, Scope.Scope> {
    return Effect.acquireRelease(
      this.subscribe.pipe(Effect.tap(() => Effect.sync(() => this.rareSubscribers++))),
      () => Effect.sync(() => this.rareSubscribers--)
    )
  }

  /**
   * Subscribes now, in the caller's scope, and returns the events published from then on: once it
   * has returned, nothing published can be missed (unlike {@link stream}, which subscribes only when
   * the stream starts running, maybe in a forked fiber that has not run yet).
   */
  get subscribed(): Effect.Effect<Stream.Stream<A>, never, Scope.Scope> {
    return Effect.suspend(() =>
      this.closed ? Effect.succeed(Stream.empty) : Effect.map(this.subscription, subscriptionStream)
    )
  }

  /** Every event published from the moment the stream starts; ends when the guard's scope closes. */
  get stream(): Stream.Stream<A> {
    return unwrapScoped(this.subscribed)
  }

  /**
   * Like {@link changes}, subscribed before it returns: the value current at that moment, then each
   * new one. Subscribes first, then reads the current value, so no change can fall between the two.
   */
  subscribedChanges<S>(
    current: () => S,
    carried: (event: A) => Option.Option<S>
  ): Effect.Effect<Stream.Stream<S>, never, Scope.Scope> {
    return Effect.map(
      this.subscription,
      (queue) => Stream.concat(Stream.succeed(current()), subscriptionStream(queue).pipe(filterMapOption(carried)))
    )
  }

  /** The current value, then each new one an event carries (subscribed when the stream starts). */
  changes<S>(current: () => S, carried: (event: A) => Option.Option<S>): Stream.Stream<S> {
    return unwrapScoped(this.subscribedChanges(current, carried))
  }

  /** Ends every subscription; later subscriptions get an empty stream. */
  get shutdown(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closed = true
      return this.pubsub === undefined ? Effect.void : PubSub.shutdown(this.pubsub)
    })
  }
}

/**
 * A hub whose buffer (created on the first subscription) is shut down when the current scope closes.
 * No finalizer is registered until then.
 */
export const makeEventHub = <A>(): Effect.Effect<EventHub<A>, never, Scope.Scope> =>
  Effect.map(Effect.scope, (scope) => new EventHub<A>(scope))
