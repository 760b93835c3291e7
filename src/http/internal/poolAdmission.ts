/**
 * When a call is refused because its connection pool is exhausted. The rule, in one place: the
 * client knows its undici dispatcher, `poolQueueLimit` is set, the origin's pool already has that
 * many requests waiting in its queue, and every open connection is serving a request (`running` is at
 * least `connected`, and some are). undici queues a request when no connection can take it and no new
 * one may be opened; requests also wait there while connections are still being opened, which is not
 * exhaustion (hence the second condition). Past the limit, a call would only wait there until its
 * attempt timeout, tying up our caller and looking to the breaker like the dependency's failure.
 * Refusing it says why.
 *
 * @internal
 */
import type * as Undici from "@effect/platform-node/Undici"
import { type PoolFigures, readPool } from "./pool.js"

/** The origin's pool when it is exhausted past `limit` waiting requests, else `undefined`. */
export const exhaustedPool = (
  dispatcher: Undici.Dispatcher | undefined,
  limit: number | undefined,
  origin: string | undefined
): PoolFigures | undefined => {
  if (dispatcher === undefined || limit === undefined || origin === undefined) return undefined
  for (const pool of readPool(dispatcher)) {
    if (pool.origin !== origin && pool.origin !== "(pool)") continue
    return pool.queued >= limit && pool.connected > 0 && pool.running >= pool.connected ? pool : undefined
  }
  return undefined
}
