/**
 * The HTTP edges of a service as the snapshot, the health report and the dashboard show them: each
 * outbound target of a `ResilientHttpClient` and each inbound `RateLimitMiddleware` policy. Schemas
 * and pure functions only: the HTTP modules fill them in (this module must not load `@effect/platform`).
 *
 * @internal
 */
import { literals, stringRecord } from "#port"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

const Status = literals("UP", "DEGRADED", "DOWN")
const Counts = stringRecord(Schema.Number)

/** Percentiles of the newest durations (millis); absent while none was measured. */
export const Latency = Schema.Struct({
  samples: Schema.Number,
  p50: Schema.optional(Schema.Number),
  p95: Schema.optional(Schema.Number),
  p99: Schema.optional(Schema.Number)
})

export const Pool = Schema.Struct({
  origin: Schema.String,
  connected: Schema.Number,
  busy: Schema.Number,
  free: Schema.Number,
  queued: Schema.Number,
  pending: Schema.Number
})

export const Outbound = Schema.Struct({
  client: Schema.String,
  target: Schema.String,
  status: Status,
  circuitState: Schema.String,
  pressures: Schema.Array(Schema.String),
  inFlight: Schema.Number,
  latencyMillis: Latency,
  /** Attempts' responses by status code, and by class (`2xx`, `4xx`, `5xx`, ...). */
  responses: Counts,
  responseClasses: Counts,
  /** Attempts without a usable response: transport, timeout, invalidBody, bodyTooLarge. */
  failures: Counts,
  /** Calls refused before the network: circuitOpen, rateLimited, paused, poolExhausted. */
  refusals: Counts,
  pool: Schema.optional(Pool)
})

export const Inbound = Schema.Struct({
  policy: Schema.String,
  status: Status,
  latencyMillis: Latency,
  responses: Counts,
  responseClasses: Counts,
  /** Refused requests by reason: rate_limited (429), shed and concurrency (503), body_timeout (408). */
  refusals: Counts,
  /** Keys (clients) with state now. */
  liveKeys: Schema.Number,
  inFlight: Schema.Number
})

export const Edges = Schema.Struct({
  outbound: Schema.Array(Outbound),
  inbound: Schema.Array(Inbound)
})

export type Latency = typeof Latency.Type
export type Outbound = typeof Outbound.Type
export type Inbound = typeof Inbound.Type
export type Edges = typeof Edges.Type

/** What has HTTP edges to show: a `ResilientHttpClient`, a `RateLimitMiddleware`. */
export interface Source {
  readonly httpEdges: Effect.Effect<Partial<Edges>>
}

export const empty: Edges = { outbound: [], inbound: [] }

/** Every source's edges, read now, in the sources' order. */
export const readEdges = (sources: ReadonlyArray<Source>): Effect.Effect<Edges> =>
  sources.length === 0 ? Effect.succeed(empty) : Effect.map(
    Effect.forEach(sources, (source) => source.httpEdges),
    (parts) => ({
      outbound: parts.flatMap((part) => part.outbound ?? []),
      inbound: parts.flatMap((part) => part.inbound ?? [])
    })
  )

/** Counts by status code, summed by class: `{ "200": 3, "503": 1 }` → `{ "2xx": 3, "5xx": 1 }`. */
export const classesOf = (byCode: Readonly<Record<string, number>>): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const [code, count] of Object.entries(byCode)) {
    const cls = `${code.charAt(0)}xx`
    out[cls] = (out[cls] ?? 0) + count
  }
  return out
}

/** The percentiles of a sample, rounded to 0.1 ms. */
export const latencyOf = (
  sample: { readonly count: number; percentile(p: number): number | undefined }
): Latency => {
  if (sample.count === 0) return { samples: 0 }
  const round = (n: number | undefined) => Math.round((n ?? 0) * 10) / 10
  return {
    samples: sample.count,
    p50: round(sample.percentile(50)),
    p95: round(sample.percentile(95)),
    p99: round(sample.percentile(99))
  }
}

/** Health components of the edges, under `httpClient:<client>:<target>` and `httpServer:<policy>`. */
export const components = (edges: Edges) => {
  const out: Array<
    readonly [string, {
      readonly status: "UP" | "DEGRADED" | "DOWN"
      readonly kind: "HttpClientTarget" | "HttpServer"
      readonly name: string
      readonly details: Record<string, number | string>
    }]
  > = []
  for (const edge of edges.outbound) {
    const name = `${edge.client}:${edge.target}`
    const details: Record<string, number | string> = {
      circuitState: edge.circuitState,
      pressures: edge.pressures.join(","),
      inFlight: edge.inFlight
    }
    if (edge.latencyMillis.p99 !== undefined) details["latencyP99Millis"] = edge.latencyMillis.p99
    if (edge.pool !== undefined) {
      details["poolBusy"] = edge.pool.busy
      details["poolFree"] = edge.pool.free
      details["poolQueued"] = edge.pool.queued
    }
    out.push([`httpClient:${name}`, { status: edge.status, kind: "HttpClientTarget", name, details }])
  }
  for (const edge of edges.inbound) {
    out.push([`httpServer:${edge.policy}`, {
      status: edge.status,
      kind: "HttpServer",
      name: edge.policy,
      details: { liveKeys: edge.liveKeys, inFlight: edge.inFlight }
    }])
  }
  return out
}
