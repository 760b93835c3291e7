/**
 * Whether an attempt sent through undici ever got a connection: told apart from a slow answer, an
 * attempt that timed out while still queued in the pool is the pool's doing, not the dependency's.
 *
 * undici publishes, on Node's diagnostics channels, `undici:request:create` when a request is created
 * (synchronously inside `dispatcher.request`, so inside the fiber that sends it) and
 * `undici:client:sendHeaders` once a connection is serving it and its headers are written. The attempt
 * puts an {@link AttemptTrace} in a fiber-local value (Effect 3: a FiberRef; 4: a `Context.Reference`)
 * around its send (inherited by any fiber the HTTP client forks); the `create` subscriber finds it through the fiber running at that moment and ties it to
 * undici's request object, the `sendHeaders` one marks it sent. A request created outside a fiber
 * (another library's) has no trace and is ignored. Node's diagnostics channels are loaded lazily, only
 * by clients given an undici `dispatcher`, so that the module stays loadable where they do not exist.
 *
 * @internal
 */
import { currentFiberLocal, makeFiberLocal, withFiberLocal } from "#port"
import * as Effect from "effect/Effect"

/** One attempt, as undici saw it. */
export class AttemptTrace {
  /** undici created a request for it. */
  requested = false
  /** A connection took it: its headers were written. */
  sent = false

  /** Created but never taken by a connection: it waited in the pool's queue all along. */
  get waitedInPool(): boolean {
    return this.requested && !this.sent
  }
}

const currentTrace = makeFiberLocal<AttemptTrace | undefined>("breakwater/http/AttemptTrace", undefined)

/** Runs `send` with `trace` as the attempt undici's requests are tied to. */
export const traced = <A, E, R>(send: Effect.Effect<A, E, R>, trace: AttemptTrace): Effect.Effect<A, E, R> =>
  withFiberLocal(send, currentTrace, trace)

interface Channel {
  subscribe(listener: (message: unknown) => void): void
}

let watching: Promise<boolean> | undefined

const subscribe = async (): Promise<boolean> => {
  try {
    const channels = (await import("node:diagnostics_channel")) as unknown as {
      readonly channel: (name: string) => Channel
    }
    const traces = new WeakMap<object, AttemptTrace>()
    channels.channel("undici:request:create").subscribe((message) => {
      const request = (message as { readonly request?: unknown }).request
      if (typeof request !== "object" || request === null) return
      const trace = currentFiberLocal(currentTrace)
      if (trace === undefined) return
      trace.requested = true
      traces.set(request, trace)
    })
    channels.channel("undici:client:sendHeaders").subscribe((message) => {
      const request = (message as { readonly request?: unknown }).request
      if (typeof request !== "object" || request === null) return
      const trace = traces.get(request)
      if (trace !== undefined) trace.sent = true
    })
    return true
  } catch {
    // No diagnostics channels here: timeouts stay timeouts.
    return false
  }
}

/** Subscribes to undici's channels, once per process; false where they cannot be had. */
export const watchUndici: Effect.Effect<boolean> = Effect.promise(() => (watching ??= subscribe()))
