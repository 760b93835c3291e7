/**
 * The keyed circuit breaker's shell: one breaker per key, made on first use with a scope of its own
 * (forked only if the breaker needs one: a {@link LazyScope}), kept in a {@link KeyedTable} (bounded,
 * idle keys dropped lazily on use, no timer per key) and closed when dropped. The breaker itself is
 * injected, so this module does not import the public one.
 *
 * @internal
 */
import {
  currentClock,
  declare,
  decodeOptions,
  type DurationInput,
  FiniteDuration,
  Name,
  nowMillis,
  refine,
  scopeProvide,
  WholeNumber,
  withDefault
} from "#port"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { KeyedTable } from "../../core/keyedTable.js"
import { LazyScope } from "../../shared/internal/lazyScope.js"

/** Keys live at once by default, and the most allowed (each holds a breaker and its window). */
export const DEFAULT_MAX_KEYS = 10_000
export const MAX_KEYS = 1_000_000

export const KeyedSchema = Schema.Struct({
  name: Name,
  maxKeys: withDefault(
    WholeNumber(1).pipe(refine((n: number) => n <= MAX_KEYS || `must be at most ${MAX_KEYS}`)),
    () => DEFAULT_MAX_KEYS
  ),
  idleTimeToLive: withDefault(FiniteDuration(Duration.millis(1)), (): DurationInput => "10 minutes"),
  track: Schema.optional(declare((u: unknown): u is object => typeof u === "function", "expected a function"))
})

export interface KeyedFigures {
  readonly keys: number
  readonly maxKeys: number
  readonly evictedKeys: number
  readonly untrackedCalls: number
}

export interface KeyedShell<B> {
  readonly guard: (key: string) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, unknown, R>
  readonly keys: Effect.Effect<ReadonlyArray<string>>
  readonly guards: Effect.Effect<ReadonlyArray<B>>
  readonly figures: Effect.Effect<KeyedFigures>
}

/** A key's entry: its scope (forked on demand) and its breaker, set once made. */
class KeySlot<B> extends LazyScope {
  breaker!: B
}

export const makeKeyedShell = <B>(
  options: {
    readonly name: string
    readonly maxKeys?: number | undefined
    readonly idleTimeToLive?: DurationInput | undefined
    readonly track?: ((breaker: B) => Effect.Effect<void, never, Scope.Scope>) | undefined
  },
  /** Makes the key's breaker; `scope` is the key's, forked from the keyed breaker's when first used. */
  make: (name: string, scope: LazyScope) => Effect.Effect<B, unknown>,
  guard: <A, E, R>(self: Effect.Effect<A, E, R>, breaker: B) => Effect.Effect<A, unknown, R>,
  refusing: (breaker: B, nowMillis: number) => boolean
) =>
  Effect.gen(function*() {
    const config = yield* decodeOptions(KeyedSchema, "CircuitBreaker", {
      name: options.name,
      ...(options.maxKeys === undefined ? {} : { maxKeys: options.maxKeys }),
      ...(options.idleTimeToLive === undefined ? {} : { idleTimeToLive: options.idleTimeToLive }),
      ...(options.track === undefined ? {} : { track: options.track })
    })
    const parent = yield* Effect.scope
    const clock = yield* currentClock
    const table = new KeyedTable<KeySlot<B>>(
      config.maxKeys,
      Duration.toMillis(config.idleTimeToLive),
      (slot, now) => refusing(slot.breaker, now)
    )
    let untrackedCalls = 0

    const close = (dropped: ReadonlyArray<KeySlot<B>>): Effect.Effect<void> =>
      dropped.length === 0 ? Effect.void : Effect.forEach(dropped, (slot) => slot.close, { discard: true })

    /** The key's slot, made if there is room; undefined when every key is pinned (the call runs untracked). */
    const acquire = (key: string): Effect.Effect<KeySlot<B> | undefined> =>
      Effect.suspend(() => {
        const now = nowMillis(clock)
        const found = table.use(key, now)
        if (found !== undefined) return Effect.as(close(table.sweep(now)), found)
        const { dropped, room } = table.makeRoom(now)
        if (!room) return Effect.as(close(dropped), undefined)
        return Effect.andThen(
          close(dropped),
          Effect.uninterruptible(Effect.gen(function*() {
            const slot = new KeySlot<B>(parent)
            slot.breaker = yield* Effect.orDie(make(`${config.name}:${key}`, slot))
            if (options.track !== undefined) yield* scopeProvide(options.track(slot.breaker), yield* slot.scope)
            // Another fiber may have made the key meanwhile: keep the first.
            const raced = table.use(key, now)
            if (raced !== undefined) {
              yield* slot.close
              return raced
            }
            table.add(key, slot, now)
            return slot
          }))
        )
      })

    return {
      guard: (key: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, unknown, R> =>
        Effect.flatMap(acquire(key), (slot) => {
          if (slot === undefined) {
            untrackedCalls++
            return self
          }
          table.enter(key)
          return Effect.ensuring(
            guard(self, slot.breaker),
            Effect.sync(() => table.leave(key, slot, nowMillis(clock)))
          )
        }),
      keys: Effect.sync(() => table.keys()),
      guards: Effect.sync(() => table.values().map((slot) => slot.breaker)),
      figures: Effect.sync(() => ({
        keys: table.size,
        maxKeys: table.maxKeys,
        evictedKeys: table.evicted,
        untrackedCalls
      }))
    } satisfies KeyedShell<B>
  })
