/**
 * The client's live targets, bounded like nginx's `limit_req_zone`: when the table is full, the least
 * recently used IDLE target (no call in flight) is closed to make room, so a new host always gets its
 * own fresh guards and no host's answers can refuse calls to another. Targets idle for
 * `idleTimeToLive` are closed too.
 *
 * A target the shell says is `pinned` (its breaker refusing, a `Retry-After` pause running) is never
 * closed, neither evicted nor expired: closing it would bring its host back Closed and unpaused, so
 * anyone able to make us call many distinct hosts could undo a breaker. Like `CircuitBreaker.keyed`.
 *
 * Why not `RcMap`: it refuses new keys when full (no eviction) and cannot say which entry is least
 * recently used or idle. This map keeps entries in recency order (a JavaScript `Map` re-inserted on
 * every use), so the eviction candidate and the expired entries are at its front. An eviction looks at
 * most at `MAX_SKIPPED` + 1 entries, and moves those it steps over (busy or pinned) to the recent end
 * as if just used, so the next eviction does not meet them again: O(1) amortized, O(64) at worst, per
 * call. One sweeping fiber per table rather than a timer per entry.
 *
 * @internal
 */
import { type CloseableScope, makeDeferredNow, nowMillis, scopeProvide } from "#port"
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"

/** A target held by a call: give it back with {@link TargetTable.release}. */
export interface Lease<A> {
  readonly key: string
  readonly value: A
}

interface Entry<A> {
  readonly key: string
  readonly ready: Deferred.Deferred<A>
  value: A | undefined
  scope: CloseableScope | undefined
  /** Calls holding the entry (and the one building it). */
  busy: number
  lastUsed: number
}

/** How many busy or pinned targets one eviction may step over before giving up (bounds the work per call). */
export const MAX_SKIPPED = 64

export class TargetTable<A> {
  private readonly entries = new Map<string, Entry<A>>()
  private closed = false

  constructor(
    readonly capacity: number,
    readonly idleMillis: number,
    private readonly clock: Clock.Clock,
    private readonly build: (key: string) => Effect.Effect<A, never, Scope.Scope>,
    /** A target that must not be closed now (its breaker refusing, a `Retry-After` pause running). */
    private readonly pinned: (value: A, nowMillis: number) => boolean = () => false
  ) {}

  get size(): number {
    return this.entries.size
  }

  /** The live targets, least recently used first. */
  values(): ReadonlyArray<A> {
    const out: Array<A> = []
    for (const entry of this.entries.values()) if (entry.value !== undefined) out.push(entry.value)
    return out
  }

  keys(): ReadonlyArray<string> {
    const out: Array<string> = []
    for (const entry of this.entries.values()) if (entry.value !== undefined) out.push(entry.key)
    return out
  }

  /**
   * The target of `key`, built if new, held until {@link release}. `undefined` when the table is full
   * and none of the `MAX_SKIPPED` + 1 least recently used targets can be evicted (a call in flight, or
   * pinned): no other host's target may stand in (the caller makes a one-call target instead).
   */
  acquire(key: string): Effect.Effect<Lease<A> | undefined> {
    return Effect.suspend(() => {
      if (this.closed) return Effect.succeed(undefined)
      const now = nowMillis(this.clock)
      const known = this.entries.get(key)
      if (known !== undefined) {
        this.touch(known, now)
        known.busy++
        return known.value !== undefined
          ? Effect.succeed(known as Lease<A>)
          : Effect.as(Deferred.await(known.ready), known as unknown as Lease<A>)
      }
      const expired = this.takeExpired(now)
      let evicted: Entry<A> | undefined
      if (this.entries.size >= this.capacity) {
        evicted = this.oldestEvictable(now)
        if (evicted === undefined) return Effect.as(this.closeAll(expired), undefined)
        this.entries.delete(evicted.key)
        expired.push(evicted)
      }
      const entry: Entry<A> = {
        key,
        ready: makeDeferredNow<A>(),
        value: undefined,
        scope: undefined,
        busy: 1,
        lastUsed: now
      }
      this.entries.set(key, entry)
      return Effect.andThen(this.closeAll(expired), this.make(entry))
    })
  }

  /** Gives a lease back; an idle target lives on for `idleTimeToLive` (closed at once when it is 0, unless pinned). */
  release(lease: Lease<A>): Effect.Effect<void> {
    return Effect.suspend(() => {
      const entry = lease as unknown as Entry<A>
      entry.busy--
      if (this.entries.get(entry.key) !== entry) return Effect.void
      this.touch(entry, nowMillis(this.clock))
      if (entry.busy > 0 || this.idleMillis > 0) return Effect.void
      // Even with no time to live, a pinned target stays (until evicted once unpinned, or the client ends).
      if (entry.value !== undefined && this.pinned(entry.value, nowMillis(this.clock))) {
        return Effect.void
      }
      this.entries.delete(entry.key)
      return this.closeAll([entry])
    })
  }

  /** Closes every target idle for `idleTimeToLive`. */
  readonly sweep: Effect.Effect<void> = Effect.suspend(() => this.closeAll(this.takeExpired(nowMillis(this.clock))))

  /** Runs {@link sweep} in the background of `scope`, and closes every target with it. */
  start(): Effect.Effect<void, never, Scope.Scope> {
    const finalizer = Effect.addFinalizer(() =>
      Effect.suspend(() => {
        this.closed = true
        const all = Array.from(this.entries.values())
        this.entries.clear()
        return this.closeAll(all)
      })
    )
    if (this.idleMillis <= 0 || !Number.isFinite(this.idleMillis)) return finalizer
    // A quarter of the time to live: a target is closed at most 25% after it expired.
    const period = Duration.millis(Math.max(1, Math.ceil(this.idleMillis / 4)))
    return Effect.andThen(
      finalizer,
      Effect.asVoid(Effect.forkScoped(Effect.repeat(this.sweep, Schedule.spaced(period))))
    )
  }

  private make(entry: Entry<A>): Effect.Effect<Lease<A>> {
    const entries = this.entries
    const build = this.build
    return Effect.uninterruptible(Effect.gen(function*() {
      const scope = yield* Scope.make()
      entry.scope = scope
      const exit = yield* Effect.exit(scopeProvide(build(entry.key), scope))
      if (Exit.isFailure(exit)) {
        if (entries.get(entry.key) === entry) entries.delete(entry.key)
        yield* Scope.close(scope, exit)
        yield* Deferred.failCause(entry.ready, exit.cause)
        return yield* Effect.failCause(exit.cause)
      }
      entry.value = exit.value
      yield* Deferred.succeed(entry.ready, exit.value)
      return entry as Lease<A>
    }))
  }

  /** Moves `entry` to the most recent end. */
  private touch(entry: Entry<A>, now: number): void {
    entry.lastUsed = now
    this.entries.delete(entry.key)
    this.entries.set(entry.key, entry)
  }

  /**
   * The least recently used entry with no call in flight and not pinned, among the `MAX_SKIPPED` + 1
   * least recently used. The entries stepped over are moved to the recent end (a pinned or busy target
   * is in use), so a run of them at the front costs one scan, not one per call.
   */
  private oldestEvictable(now: number): Entry<A> | undefined {
    const skipped: Array<Entry<A>> = []
    let found: Entry<A> | undefined
    for (const entry of this.entries.values()) {
      if (entry.busy === 0 && entry.value !== undefined && !this.pinned(entry.value, now)) {
        found = entry
        break
      }
      skipped.push(entry)
      if (skipped.length > MAX_SKIPPED) break
    }
    // Moved after the loop: re-inserting while iterating a Map would visit them again.
    for (const entry of skipped) this.touch(entry, now)
    return found
  }

  /** Removes and returns the idle, unpinned entries past their time to live (all at the front, by recency). */
  private takeExpired(now: number): Array<Entry<A>> {
    const expired: Array<Entry<A>> = []
    if (this.idleMillis <= 0) return expired
    const pinned: Array<Entry<A>> = []
    for (const entry of this.entries.values()) {
      if (entry.lastUsed + this.idleMillis > now) break
      if (entry.busy === 0 && entry.value !== undefined) {
        if (this.pinned(entry.value, now)) pinned.push(entry)
        else expired.push(entry)
      }
    }
    for (const entry of expired) this.entries.delete(entry.key)
    // A pinned target outlives its time to live: kept as if just used, looked at again a lifetime later.
    for (const entry of pinned) this.touch(entry, now)
    return expired
  }

  private closeAll(entries: ReadonlyArray<Entry<A>>): Effect.Effect<void> {
    if (entries.length === 0) return Effect.void
    return Effect.forEach(
      entries,
      (entry) => entry.scope === undefined ? Effect.void : Scope.close(entry.scope, Exit.void),
      { discard: true }
    )
  }
}
