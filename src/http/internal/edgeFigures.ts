/**
 * A `ResilientHttpClient` target's snapshot as an outbound HTTP edge (see `internal/httpEdges.ts`).
 *
 * @internal
 */
import * as Option from "effect/Option"
import * as httpEdges from "../../observability/internal/httpEdges.js"
import type { PoolFigures } from "./pool.js"

interface TargetView {
  readonly target: string
  readonly circuitState: string
  readonly inFlight: number
  readonly responses: Readonly<Record<string, number>>
  readonly failures: Readonly<Record<string, number>>
  readonly refusals: Readonly<Record<string, number>>
  readonly pool: Option.Option<PoolFigures>
  readonly pressures: ReadonlyArray<string>
  readonly latencyMillis: httpEdges.Latency
}

/** `DOWN` while the breaker refuses, `DEGRADED` under any other pressure, else `UP`. */
export const outbound = (client: string, view: TargetView): httpEdges.Outbound => {
  const status = view.pressures.includes("circuit-open")
    ? "DOWN"
    : view.pressures.length > 0
    ? "DEGRADED"
    : "UP"
  const pool = Option.getOrUndefined(view.pool)
  return {
    client,
    target: view.target,
    status,
    circuitState: view.circuitState,
    pressures: view.pressures,
    inFlight: view.inFlight,
    latencyMillis: view.latencyMillis,
    responses: view.responses,
    responseClasses: httpEdges.classesOf(view.responses),
    failures: view.failures,
    refusals: view.refusals,
    ...(pool === undefined ? {} : {
      pool: {
        origin: pool.origin,
        connected: pool.connected,
        busy: pool.busy,
        free: pool.free,
        queued: pool.queued,
        pending: pool.pending
      }
    })
  }
}
