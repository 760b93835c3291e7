/**
 * The event hub every guard publishes to: a sliding `PubSub` created on the first subscription, so a
 * guard nobody watches costs no buffer (a keyed limiter may hold many thousands of guards), and a
 * subscriber count the hot paths read before building an event.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import type * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

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
    this.pubsub?.unsafeOffer(event)
  }

  /** Offers `event`; when a buffer is full, slides the oldest event out instead of dropping this one. */
  publish(event: A): Effect.Effect<void> {
    return Effect.suspend(() => {
      const pubsub = this.pubsub
      if (pubsub === undefined || this.closed || pubsub.unsafeOffer(event)) return Effect.void
      return Effect.asVoid(PubSub.publish(pubsub, event))
    })
  }

  private readonly subscribe: Effect.Effect<Queue.Dequeue<A>, never, Scope.Scope> = Effect.suspend(() => {
    const existing = this.pubsub
    const pubsub = existing !== undefined
      ? Effect.succeed(existing)
      : Effect.map(PubSub.sliding<A>(EVENT_BUFFER), (created) => this.pubsub ??= created)
    return Effect.flatMap(pubsub, PubSub.subscribe)
  })

  /** A subscription that lasts as long as its scope; counted while it lasts. */
  readonly subscription: Effect.Effect<Queue.Dequeue<A>, never, Scope.Scope> = Effect.acquireRelease(
    this.subscribe.pipe(Effect.tap(() => Effect.sync(() => this.subscribers++))),
    () => Effect.sync(() => this.subscribers--)
  )

  /**
   * A subscription that does not make the guard build per-call events: it receives the rare ones,
   * and per-call events only while a full subscriber exists (the reader filters them out).
   */
  readonly rareSubscription: Effect.Effect<Queue.Dequeue<A>, never, Scope.Scope> = Effect.acquireRelease(
    this.subscribe.pipe(Effect.tap(() => Effect.sync(() => this.rareSubscribers++))),
    () => Effect.sync(() => this.rareSubscribers--)
  )

  /** Every event published from the moment the stream starts; ends when the guard's scope closes. */
  readonly stream: Stream.Stream<A> = Stream.unwrapScoped(
    Effect.suspend(() => this.closed ? Effect.succeed(Stream.empty) : Effect.map(this.subscription, Stream.fromQueue))
  )

  /** Ends every subscription; later subscriptions get an empty stream. */
  readonly shutdown: Effect.Effect<void> = Effect.suspend(() => {
    this.closed = true
    return this.pubsub === undefined ? Effect.void : PubSub.shutdown(this.pubsub)
  })
}

/** A hub that is shut down when the current scope closes. */
export const makeEventHub = <A>(): Effect.Effect<EventHub<A>, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.sync(() => new EventHub<A>()), (hub) => hub.shutdown)
