/**
 * The HTTP edges end to end, on loopback: real `@effect/platform-node` servers on 127.0.0.1 and a load
 * generator written on @effect/platform's own `HttpClient` over undici (`NodeHttpClient.layerUndici`,
 * keep-alive), all in this process. Every case sends the same request (`GET /`, a 2-byte text body read
 * in full) and is measured against the plain case in paired rounds:
 *
 * - control: the plain client against a second plain server (the same code as the baseline): its
 *   ratios are this run's noise floor, what "no difference" looks like on this machine;
 * - outbound guarded: `ResilientHttpClient.wrap` (defaults: breaker, retry, attempt and total timeouts)
 *   around the same client, against the plain server;
 * - inbound guarded: the plain client against the same app served with `RateLimitMiddleware` (a limit
 *   no run reaches, so every request is granted: the cost of the decision and its headers).
 *
 * Each comparison runs sequentially (one request in flight: latency per call) and with `concurrency`
 * requests in flight (throughput). A round is one turn of `millis` of each of the two cases, back to
 * back, in alternating order (guarded first in even rounds, plain first in odd ones); each round gives
 * one ratio per figure (requests/s, p50, p99, CPU per request) and the section reports the median of
 * those ratios and their range. Two cases measured within milliseconds of each other see the same
 * machine: on a shared, loaded host the medians of the two cases' separate figures, taken seconds
 * apart, moved by more than the 5% the middleware's target is about.
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
  /** Paired rounds per comparison and mode (after one warm-up round). */
  readonly rounds: number
  /** Requests in flight in the concurrent mode. */
  readonly concurrency: number
  /** Only these comparisons (BENCH_HTTP_CASES: any of control, client, middleware). Default: all. */
  readonly only?: ReadonlyArray<HttpComparison> | undefined
}

export const HttpCases = {
  plain: "plain client -> plain server",
  control: "plain client -> second plain server (control)",
  client: "ResilientHttpClient -> plain server",
  middleware: "plain client -> server with RateLimitMiddleware"
} as const

/** The comparisons, each a case against the plain one. */
export type HttpComparison = "control" | "client" | "middleware"
export const httpComparisons: ReadonlyArray<HttpComparison> = ["control", "client", "middleware"]

export const LOAD_GENERATOR =
  "@effect/platform's HttpClient on undici (`NodeHttpClient.layerUndici`, keep-alive), in the servers' process"

/** One round's figures for one case. */
export interface HttpFigures {
  readonly requestsPerSecond: number
  readonly p50Micros: number
  readonly p99Micros: number
  /** This process's CPU time (user + system) per request: client, server and generator together. */
  readonly cpuMicros: number
}

/** The per-round ratios (case / plain) of one figure: their median and range. */
export interface RatioRange {
  readonly median: number
  readonly lowest: number
  readonly highest: number
}

/** One comparison in one mode: the case's and the plain case's median figures, and the paired ratios. */
export interface HttpRow extends HttpFigures {
  readonly name: string
  readonly comparison: HttpComparison
  readonly mode: "sequential" | "concurrent"
  readonly inFlight: number
  readonly rounds: number
  /** The plain case's medians over the same rounds. */
  readonly plain: HttpFigures
  readonly ratios: { readonly [K in keyof HttpFigures]: RatioRange }
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
export const serve = (middleware?: HttpMiddleware.HttpMiddleware, served: HttpApp.Default = app) =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
    yield* middleware === undefined ? server.serve(served) : server.serve(served, middleware)
    return `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}/`
  })

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
      p50Micros: percentile(latencies, 0.5),
      p99Micros: percentile(latencies, 0.99),
      cpuMicros: (used.user + used.system) / latencies.length
    } satisfies HttpFigures
  })

const figureNames: ReadonlyArray<keyof HttpFigures> = ["requestsPerSecond", "p50Micros", "p99Micros", "cpuMicros"]

const medians = (samples: ReadonlyArray<HttpFigures>): HttpFigures => ({
  requestsPerSecond: median(samples.map((s) => s.requestsPerSecond)),
  p50Micros: median(samples.map((s) => s.p50Micros)),
  p99Micros: median(samples.map((s) => s.p99Micros)),
  cpuMicros: median(samples.map((s) => s.cpuMicros))
})

const ratioRange = (values: ReadonlyArray<number>): RatioRange => ({
  median: median(values),
  lowest: Math.min(...values),
  highest: Math.max(...values)
})

/** A case measured against a baseline case. */
export interface HttpPair {
  readonly name: string
  readonly comparison: HttpComparison
  readonly get: Effect.Effect<void, unknown>
  readonly baseline: Effect.Effect<void, unknown>
}

/**
 * `rounds` paired rounds (after one warm-up round) of `pair`'s case and its baseline, in alternating
 * order, each `millis` long with `inFlight` requests in flight.
 */
export const pairedRounds = (
  pair: HttpPair,
  options: { readonly rounds: number; readonly millis: number; readonly inFlight: number }
) =>
  Effect.gen(function*() {
    const guarded: Array<HttpFigures> = []
    const plain: Array<HttpFigures> = []
    for (let r = -1; r < options.rounds; r++) {
      let g: HttpFigures
      let p: HttpFigures
      if (r % 2 === 0) {
        g = yield* round(pair.get, options.inFlight, options.millis)
        p = yield* round(pair.baseline, options.inFlight, options.millis)
      } else {
        p = yield* round(pair.baseline, options.inFlight, options.millis)
        g = yield* round(pair.get, options.inFlight, options.millis)
      }
      if (r >= 0) {
        guarded.push(g)
        plain.push(p)
      }
    }
    const ratios = Object.fromEntries(
      figureNames.map((f) => [f, ratioRange(guarded.map((g, i) => g[f] / plain[i]![f]))])
    ) as HttpRow["ratios"]
    return { guarded: medians(guarded), plain: medians(plain), ratios, rounds: guarded.length }
  })

/** GETs `url` with `client` and reads the body, failing on anything but `200 ok`. */
export const getOk = <E>(client: HttpClient.HttpClient.With<E>, url: string) =>
  Effect.flatMap(
    client.get(url),
    (response) =>
      Effect.flatMap(response.text, (text) =>
        response.status === 200 && text === "ok"
          ? Effect.void
          : Effect.fail(new Error(`unexpected ${response.status}`)))
  )

/** The load generator's client (the plain one), in the surrounding scope. */
export const plainClient = Effect.flatMap(
  Layer.build(NodeHttpClient.layerUndici),
  (context) => Effect.provide(HttpClient.HttpClient, context)
)

export const runHttp = (config: HttpBenchConfig): Promise<HttpResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const plainUrl = yield* serve()
    const controlUrl = yield* serve()
    const limit = yield* RateLimitMiddleware.make({
      name: "bench",
      limitForPeriod: 1_000_000_000,
      limitRefreshPeriod: "1 second"
    })
    const limitedUrl = yield* serve(limit)
    const base = yield* plainClient
    const resilience = yield* ResilientHttpClient.make({ name: "bench" })
    const guarded = ResilientHttpClient.wrap(base, resilience)
    const baseline = getOk(base, plainUrl)
    const pairs: Array<HttpPair> = [
      { name: HttpCases.control, comparison: "control" as const, get: getOk(base, controlUrl), baseline },
      { name: HttpCases.client, comparison: "client" as const, get: getOk(guarded, plainUrl), baseline },
      { name: HttpCases.middleware, comparison: "middleware" as const, get: getOk(base, limitedUrl), baseline }
    ].filter((p) => config.only === undefined || config.only.includes(p.comparison))
    const modes = [
      { mode: "sequential" as const, inFlight: 1 },
      { mode: "concurrent" as const, inFlight: config.concurrency }
    ]
    const rows: Array<HttpRow> = []
    for (const { inFlight, mode } of modes) {
      for (const pair of pairs) {
        const measured = yield* pairedRounds(pair, { rounds: config.rounds, millis: config.millis, inFlight })
        rows.push({
          name: pair.name,
          comparison: pair.comparison,
          mode,
          inFlight,
          rounds: measured.rounds,
          ...measured.guarded,
          plain: measured.plain,
          ratios: measured.ratios
        })
      }
    }
    return { _tag: "Measured", rows, config } satisfies HttpResult
  }))).catch((error: unknown): HttpResult => ({ _tag: "Skipped", reason: `failed: ${String(error)}` }))

// ---- report ----------------------------------------------------------------------------------------

const fixed = (n: number, digits = 2) => Number.isFinite(n) ? n.toFixed(digits) : "n/a"
const grouped = (n: number) => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a"
const ranged = (r: RatioRange) => `${fixed(r.median)}x (${fixed(r.lowest)}–${fixed(r.highest)})`

const rowOf = (result: HttpResult, comparison: HttpComparison, mode: HttpRow["mode"]) =>
  result._tag === "Measured" ? result.rows.find((r) => r.comparison === comparison && r.mode === mode) : undefined

/** The section's text and table: each case's figures next to the plain case's, and the paired ratios. */
export const httpSection = (result: HttpResult): string => {
  if (result._tag === "Skipped") return `Not measured in this run: ${result.reason}.`
  const lines = result.rows.map((r) =>
    `| ${r.name} | ${r.mode} (${r.inFlight} in flight) | ${grouped(r.requestsPerSecond)} vs ${
      grouped(r.plain.requestsPerSecond)
    } | ${ranged(r.ratios.requestsPerSecond)} | ${grouped(r.p50Micros)} vs ${grouped(r.plain.p50Micros)} | ${
      ranged(r.ratios.p50Micros)
    } | ${grouped(r.p99Micros)} vs ${grouped(r.plain.p99Micros)} | ${ranged(r.ratios.p99Micros)} | ${
      fixed(r.cpuMicros, 0)
    } vs ${fixed(r.plain.cpuMicros, 0)} | ${ranged(r.ratios.cpuMicros)} |`
  )
  return `Loopback, plain against guarded in both directions, in one run. Load generator: ${LOAD_GENERATOR}.
Servers: \`@effect/platform-node\`'s \`NodeHttpServer\` on 127.0.0.1 answering \`GET /\` with a 2-byte text.
Outbound: the plain client against \`ResilientHttpClient.wrap\` of the same client (default options: breaker,
retry, attempt and total timeouts), both against the plain server. Inbound: the same plain client against
the plain server and against the same app behind \`RateLimitMiddleware\` (a limit no run reaches: every
request is granted). Control: the plain client against a second plain server, the same code as the
baseline: its ratios show this run's noise floor. Each comparison is ${result.config.rounds} paired rounds (after a
warm-up round) of ${result.config.millis} ms of the case and ${result.config.millis} ms of the plain case, back to back in
alternating order; a figure is "case vs plain" (medians over the rounds) and its ratio is the median of
the rounds' ratios, with their range in brackets (BENCH_HTTP_MS, BENCH_HTTP_ROUNDS, BENCH_HTTP_CONCURRENCY,
BENCH_HTTP_CASES; BENCH_ONLY=http runs this section alone). Client, servers and load generator share one
process and this machine's cores; CPU µs/request is that process's CPU time (user + system) over the
requests sent.

| case | mode | requests/s | ratio | p50 µs | ratio | p99 µs | ratio | CPU µs/request | ratio |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
${lines.join("\n")}`
}

/**
 * Outbound: a guarded call's p50 at most 1.2x a plain call's; inbound: at most 5% fewer requests/s, in
 * both modes. Each with the control's figure, so a miss within the noise floor reads as one.
 */
export const httpTargets = (result: HttpResult) => {
  if (result._tag === "Skipped") return []
  const control = (mode: HttpRow["mode"], figure: keyof HttpFigures) => {
    const row = rowOf(result, "control", mode)
    return row === undefined ? "" : `; control (plain vs plain) ${ranged(row.ratios[figure])}`
  }
  const out: Array<{ target: string; measured: string; met: boolean | undefined }> = []
  const client = rowOf(result, "client", "sequential")
  if (client !== undefined) {
    out.push({
      target: "HTTP: ResilientHttpClient call <= 1.2x a plain HttpClient call (loopback, p50, one in flight)",
      measured: `${ranged(client.ratios.p50Micros)} (p50 ${grouped(client.p50Micros)} vs ${
        grouped(client.plain.p50Micros)
      } µs${control("sequential", "p50Micros")})`,
      met: Number.isFinite(client.ratios.p50Micros.median) ? client.ratios.p50Micros.median <= 1.2 : undefined
    })
  }
  for (const mode of ["concurrent", "sequential"] as const) {
    const row = rowOf(result, "middleware", mode)
    if (row === undefined) continue
    const rps = row.ratios.requestsPerSecond.median
    out.push({
      target: `HTTP: server with RateLimitMiddleware >= 0.95x the requests/s without it (${row.inFlight} in flight)`,
      measured: `${ranged(row.ratios.requestsPerSecond)} (${grouped(row.requestsPerSecond)} vs ${
        grouped(row.plain.requestsPerSecond)
      } requests/s${control(mode, "requestsPerSecond")})`,
      met: Number.isFinite(rps) ? rps >= 0.95 : undefined
    })
  }
  return out
}
