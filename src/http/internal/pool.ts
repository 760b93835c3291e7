/**
 * Reading undici's pool statistics.
 *
 * @internal
 */
import type * as Undici from "@effect/platform-node/Undici"

/** One origin's pool, in the names an operator reads. */
export interface PoolFigures {
  readonly origin: string
  /** Open connections. */
  readonly connected: number
  /** Connections serving a request. */
  readonly busy: number
  /** Idle open connections. */
  readonly free: number
  /** Requests waiting in the pool for a connection. */
  readonly queued: number
  /** Requests handed to a connection but not yet sent. */
  readonly pending: number
  /** Requests being served. */
  readonly running: number
  /** Requests queued, pending or running. */
  readonly size: number
}

interface RawStats {
  readonly connected: number | boolean
  readonly free?: number
  readonly pending: number
  readonly queued?: number
  readonly running: number
  readonly size: number
}

const figures = (origin: string, raw: RawStats): PoolFigures => {
  const connected = typeof raw.connected === "boolean" ? (raw.connected ? 1 : 0) : raw.connected
  const free = raw.free ?? (connected > 0 && raw.running === 0 ? 1 : 0)
  return {
    origin,
    connected,
    busy: Math.max(0, connected - free),
    free,
    queued: raw.queued ?? 0,
    pending: raw.pending,
    running: raw.running,
    size: raw.size
  }
}

/** An `Agent`'s pools by origin, or a single `Pool`'s or `Client`'s. Never throws. */
export const readPool = (dispatcher: Undici.Dispatcher): ReadonlyArray<PoolFigures> => {
  try {
    const stats = (dispatcher as unknown as { readonly stats?: unknown }).stats
    if (stats === undefined || stats === null || typeof stats !== "object") return []
    if ("running" in stats && "size" in stats) return [figures("(pool)", stats as RawStats)]
    return Object.entries(stats as Record<string, RawStats>).map(([origin, raw]) => figures(origin, raw))
  } catch {
    return []
  }
}
