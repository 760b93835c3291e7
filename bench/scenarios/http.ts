/**
 * The HTTP edges end to end, on loopback: real `@effect/platform-node` servers on 127.0.0.1 and a load
 * generator written on @effect/platform's own `HttpClient` over undici (`NodeHttpClient.layerUndici`,
 * keep-alive), all in this process. Three cases, the same request (`GET /`, a 2-byte text body read in
 * full) in interleaved rounds:
 *
 * - plain: the plain client against the plain server (the baseline of both directions);
 * - outbound guarded: `ResilientHttpClient.wrap` (defaults: breaker, retry, attempt and total timeouts)
 *   around the same client, against the same server;
 * - inbound guarded: the plain client against the same app served with `RateLimitMiddleware` (a limit
 *   no run reaches, so every request is granted: the cost of the decision and its headers).
 *
 * Each case runs sequentially (one request in flight: latency per call) and with `concurrency`
 * requests in flight (throughput). Figures are medians over the rounds of each round's p50, p99 and
 * requests/s; ratios are to the plain case of the same mode, in the same run.
 */
import { HttpClient, HttpServer, HttpServerResponse } from "@effect/platform"
import type { HttpApp, HttpMiddleware } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import * as RateLimitMiddleware from "../../src/http/RateLimitMiddleware.js"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"

export interface HttpBenchConfig {
  /** Length of one case's turn in one round, per mode. */
  readonly millis: number
  readonly rounds: number
  /** Requests in flight in the concurrent mode. */
  readonly concurrency: number
  /** Profiling: only the cases whose name starts with this. */
  readonly only?: string
}

export const HttpCases = {
  plain: "plain client -> plain server",
  client: "ResilientHttpClient -> plain server",
  middleware: "plain client -> server with RateLimitMiddleware"
} as const

export const LOAD_GENERATOR =
  "@effect/platform's HttpClient on undici (`NodeHttpClient.layerUndici`, keep-alive), in the servers' process"

export interface HttpRow {
  readonly name: string
  readonly mode: "sequential" | "concurrent"
  readonly inFlight: number
  readonly requestsPerSecond: number
  readonly p50Micros: number
  readonly p99Micros: number
  /** This process's CPU time (user + system) per request: client, server and generator together. */
  readonly cpuMicros: number
  /** Median of the per-round spread of requests/s: (max - min) / median. */
  readonly spread: number
}

export type HttpResult =
  | { readonly _tag: "Measured"; readonly rows: ReadonlyArray<HttpRow>; readonly config: HttpBenchConfig }
  | { readonly _tag: "Skipped"; readonly reason: string }

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length === 0
    ? Number.NaN
    : sorted.length % 2 === 1
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

const app: HttpApp.Default = Effect.succeed(HttpServerResponse.text("ok"))

/** Serves `app` on 127.0.0.1:0 until the scope closes; returns its base URL. */
const serve = (middleware?: HttpMiddleware.HttpMiddleware) =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
    yield* middleware === undefined ? server.serve(app) : server.serve(app, middleware)
    return `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}/`
  })

interface Round {
  readonly requestsPerSecond: number
  readonly p50: number
  readonly p99: number
  readonly cpu: number
}

/** `inFlight` loops sending `get` back to back for `millis`; latencies in microseconds. */
const round = (get: Effect.Effect<void, unknown>, inFlight: number, millis: number) =>
  Effect.gen(function*() {
    const latencies: Array<number> = []
    const start = performance.now()
    const cpu = process.cpuUsage()
    const end = start + millis
    const loop: Effect.Effect<void, unknown> = Effect.suspend(() => {
      if (performance.now() >= end) return Effect.void
      const sent = performance.now()
      return Effect.flatMap(get, () => {
        latencies.push((performance.now() - sent) * 1000)
        return loop
      })
    })
    yield* Effect.all(Array.from({ length: inFlight }, () => loop), { concurrency: "unbounded", discard: true })
    const seconds = (performance.now() - start) / 1000
    const used = process.cpuUsage(cpu)
    latencies.sort((a, b) => a - b)
    return {
      requestsPerSecond: latencies.length / seconds,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      cpu: (used.user + used.system) / latencies.length
    } satisfies Round
  })

export const runHttp = (config: HttpBenchConfig): Promise<HttpResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const plainUrl = yield* serve()
    const limit = yield* RateLimitMiddleware.make({
      name: "bench",
      limitForPeriod: 1_000_000_000,
      limitRefreshPeriod: "1 second"
    })
    const limitedUrl = yield* serve(limit)
    const base = yield* Effect.provide(HttpClient.HttpClient, yield* Layer.build(NodeHttpClient.layerUndici))
    const resilience = yield* ResilientHttpClient.make({ name: "bench" })
    const guarded = ResilientHttpClient.wrap(base, resilience)
    const get = <E>(client: HttpClient.HttpClient.With<E>, url: string) =>
      Effect.flatMap(
        client.get(url),
        (response) =>
          Effect.flatMap(response.text, (text) =>
            response.status === 200 && text === "ok"
              ? Effect.void
              : Effect.fail(new Error(`unexpected ${response.status}`)))
      )
    const cases = [
      { name: HttpCases.plain, get: get(base, plainUrl) },
      { name: HttpCases.client, get: get(guarded, plainUrl) },
      { name: HttpCases.middleware, get: get(base, limitedUrl) }
    ].filter((c) => config.only === undefined || c.name.startsWith(config.only))
    const modes = [
      { mode: "sequential" as const, inFlight: 1 },
      { mode: "concurrent" as const, inFlight: config.concurrency }
    ]
    const rows: Array<HttpRow> = []
    for (const { inFlight, mode } of modes) {
      const samples = cases.map(() => [] as Array<Round>)
      for (let r = -1; r < config.rounds; r++) { // one warm-up round
        for (let k = 0; k < cases.length; k++) {
          const i = (k + Math.max(r, 0)) % cases.length
          const result = yield* round(cases[i]!.get, inFlight, config.millis)
          if (r >= 0) samples[i]!.push(result)
        }
      }
      cases.forEach((c, i) => {
        const rates = samples[i]!.map((s) => s.requestsPerSecond)
        const rate = median(rates)
        rows.push({
          name: c.name,
          mode,
          inFlight,
          requestsPerSecond: rate,
          p50Micros: median(samples[i]!.map((s) => s.p50)),
          p99Micros: median(samples[i]!.map((s) => s.p99)),
          cpuMicros: median(samples[i]!.map((s) => s.cpu)),
          spread: (Math.max(...rates) - Math.min(...rates)) / rate
        })
      })
    }
    return { _tag: "Measured", rows, config } satisfies HttpResult
  }))).catch((error: unknown): HttpResult => ({ _tag: "Skipped", reason: `failed: ${String(error)}` }))

// ---- report ----------------------------------------------------------------------------------------

const fixed = (n: number, digits = 2) => Number.isFinite(n) ? n.toFixed(digits) : "n/a"
const grouped = (n: number) => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a"

const rowOf = (result: HttpResult, name: string, mode: HttpRow["mode"]) =>
  result._tag === "Measured" ? result.rows.find((r) => r.name === name && r.mode === mode) : undefined

/** The section's text and table: figures and their ratios to the plain case of the same mode. */
export const httpSection = (result: HttpResult): string => {
  if (result._tag === "Skipped") return `Not measured in this run: ${result.reason}.`
  const lines = result.rows.map((r) => {
    const plain = rowOf(result, HttpCases.plain, r.mode)!
    return `| ${r.name} | ${r.mode} (${r.inFlight} in flight) | ${grouped(r.requestsPerSecond)} | ${
      fixed(r.requestsPerSecond / plain.requestsPerSecond)
    }x | ${grouped(r.p50Micros)} | ${fixed(r.p50Micros / plain.p50Micros)}x | ${grouped(r.p99Micros)} | ${
      fixed(r.p99Micros / plain.p99Micros)
    }x | ${fixed(r.cpuMicros, 0)} | ${fixed(r.cpuMicros / plain.cpuMicros)}x | ${fixed(r.spread * 100, 0)}% |`
  })
  return `Loopback, plain against guarded in both directions, in one run. Load generator: ${LOAD_GENERATOR}.
Servers: \`@effect/platform-node\`'s \`NodeHttpServer\` on 127.0.0.1 answering \`GET /\` with a 2-byte text.
Outbound: the plain client against \`ResilientHttpClient.wrap\` of the same client (default options: breaker,
retry, attempt and total timeouts), both against the plain server. Inbound: the same plain client against
the plain server and against the same app behind \`RateLimitMiddleware\` (a limit no run reaches: every
request is granted). Each case sends back to back for ${result.config.millis} ms per round, ${result.config.rounds}
interleaved rounds after a warm-up round (BENCH_HTTP_MS, BENCH_HTTP_ROUNDS, BENCH_HTTP_CONCURRENCY;
BENCH_ONLY=http runs this section alone); figures are medians over the rounds, ratios to the plain case
of the same mode. Client, servers and load generator share one process and this machine's cores; CPU
µs/request is that process's CPU time (user + system) over the requests sent, the figure least moved
by other load on the machine.

| case | mode | requests/s | x plain | p50 µs | x plain | p99 µs | x plain | CPU µs/request | x plain | spread (requests/s) |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${lines.join("\n")}`
}

/** Outbound: a guarded call's p50 at most 1.2x a plain call's; inbound: at most 5% fewer requests/s. */
export const httpTargets = (result: HttpResult) => {
  if (result._tag === "Skipped") return []
  const ratio = (name: string, mode: HttpRow["mode"], field: "p50Micros" | "requestsPerSecond") =>
    (rowOf(result, name, mode)?.[field] ?? Number.NaN) / (rowOf(result, HttpCases.plain, mode)?.[field] ?? Number.NaN)
  const perCall = ratio(HttpCases.client, "sequential", "p50Micros")
  const rps = ratio(HttpCases.middleware, "concurrent", "requestsPerSecond")
  return [
    {
      target: "HTTP: ResilientHttpClient call <= 1.2x a plain HttpClient call (loopback, p50, one in flight)",
      measured: `${fixed(perCall)}x (p50 ${
        grouped(rowOf(result, HttpCases.client, "sequential")?.p50Micros ?? NaN)
      } vs ${grouped(rowOf(result, HttpCases.plain, "sequential")?.p50Micros ?? NaN)} µs)`,
      met: Number.isFinite(perCall) ? perCall <= 1.2 : undefined
    },
    {
      target:
        `HTTP: server with RateLimitMiddleware >= 0.95x the requests/s without it (${result.config.concurrency} in flight)`,
      measured: `${fixed(rps)}x (${
        grouped(rowOf(result, HttpCases.middleware, "concurrent")?.requestsPerSecond ?? NaN)
      } vs ${grouped(rowOf(result, HttpCases.plain, "concurrent")?.requestsPerSecond ?? NaN)} requests/s)`,
      met: Number.isFinite(rps) ? rps >= 0.95 : undefined
    }
  ]
}
