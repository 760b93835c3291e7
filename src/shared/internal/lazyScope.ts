/**
 * A child scope forked only when something first needs it. A keyed breaker's key needs a scope only
 * for a timer, an event subscription or `track`; most keys never have any, and a forked scope (its
 * finalizer map, the finalizer it leaves in the parent) costs ~700 bytes, more than the key's breaker.
 *
 * @internal
 */
import { type CloseableScope, forkScope } from "#port"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"

export class LazyScope {
  private child: CloseableScope | undefined
  private closed = false

  constructor(private readonly parent: Scope.Scope) {}

  /** The child, forked now if it has not been; once closed, a child closed at once (as a closed scope behaves). */
  get scope(): Effect.Effect<Scope.Scope> {
    return Effect.suspend(() => {
      const existing = this.child
      if (existing !== undefined) return Effect.succeed(existing)
      return Effect.flatMap(forkScope(this.parent), (child) => {
        // Another fiber may have forked one meanwhile: keep the first.
        if (this.child !== undefined) return Effect.as(Scope.close(child, Exit.void), this.child)
        this.child = child
        return this.closed ? Effect.as(Scope.close(child, Exit.void), child) : Effect.succeed(child)
      })
    })
  }

  /** Closes the child if there is one; a child forked later is closed at once. */
  get close(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closed = true
      return this.child === undefined ? Effect.void : Scope.close(this.child, Exit.void)
    })
  }
}

/** `source`'s scope: the scope itself, or a lazy one's child (forked on demand). */
export const scopeOf = (source: Scope.Scope | LazyScope): Effect.Effect<Scope.Scope> =>
  source instanceof LazyScope ? source.scope : Effect.succeed(source)
