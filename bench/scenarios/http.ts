/**
 * The HTTP edges end to end, on loopback, on each Effect target: real `@effect/platform-node` servers on
 * 127.0.0.1 and a load generator written on the target's own `HttpClient`, all in this process. The
 * measuring code is bench/targets/httpCases.ts, compiled once per Effect (bench/build.mjs); this module
 * holds what does not depend on the Effect version: the figures, their ratios and the report. Every case
 * sends the same request (`GET /`, a 2-byte text body read in full) and is measured against the plain
 * case in paired rounds:
 *
 * - control: the plain client against a second plain server (the same code as the baseline): its
 *   ratios are this run's noise floor, what "no difference" looks like on this machine;
 * - outbound guarded: `ResilientHttpClient.wrap` (defaults: breaker, retry, attempt and total timeouts)
 *   around the same client, against the plain server;
 * - inbound guarded: the plain client against the same app served with `RateLimitMiddleware` (a limit
 *   no run reaches, so every request is granted: the cost of the decision and its headers);
 * - the same middleware applied to the app (`serve(limit(app))`) instead of given to the server as its
 *   middleware (`serve(app, limit)`): Effect 4's server traces every request that has a middleware;
 * - what the inbound figure is made of: the same app served with a pass-through middleware (what the
 *   platform's middleware slot costs any middleware) and with a middleware that only adds the two
 *   RateLimit header fields the middleware sends (what sending them costs server and client).
 *
 * Each comparison runs sequentially (one request in flight: latency per call) and with `concurrency`
 * requests in flight (throughput). A round is one turn of `millis` of each of the two cases, back to
 * back, in alternating order (guarded first in even rounds, plain first in odd ones); each round gives
 * one ratio per figure (requests/s, p50, p99, CPU per request) and the section reports the median of
 * those ratios and their range. Two cases measured within milliseconds of each other see the same
 * machine: on a shared, loaded host the medians of the two cases' separate figures, taken seconds
 * apart, moved by more than the 5% the middleware's target is about. A target's ratios compare its own
 * cases (the same runtime, client and servers on both sides); the targets run one after the other.
 */

export interface HttpBenchConfig {
  /** Length of one case's turn in one round, per mode. */
  readonly millis: number
  /** Paired rounds per comparison and mode (after one warm-up round). */
  readonly rounds: number
  /** Requests in flight in the concurrent mode. */
  readonly concurrency: number
  /** Only these comparisons (BENCH_HTTP_CASES: any of {@link httpComparisons}). Default: all. */
  readonly only?: ReadonlyArray<HttpComparison> | undefined
}

export const HttpCases = {
  plain: "plain client -> plain server",
  control: "plain client -> second plain server (control)",
  client: "ResilientHttpClient -> plain server",
  middleware: "plain client -> server with RateLimitMiddleware",
  aroundApp: "plain client -> server with RateLimitMiddleware applied to the app",
  passThrough: "plain client -> server with a pass-through middleware",
  headers: "plain client -> server with a middleware adding the two RateLimit fields"
} as const

/** The comparisons, each a case against the plain one. */
export type HttpComparison = "control" | "client" | "middleware" | "aroundApp" | "passThrough" | "headers"
export const httpComparisons: ReadonlyArray<HttpComparison> = [
  "control",
  "client",
  "middleware",
  "aroundApp",
  "passThrough",
  "headers"
]

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

/**
 * One build of bench/targets/httpCases.ts: the Effect major it was compiled for, the load generator it
 * sends with, and its rows (every comparison in both modes).
 */
export interface HttpTarget {
  readonly effect: 3 | 4
  readonly loadGenerator: string
  readonly measure: (config: HttpBenchConfig) => Promise<ReadonlyArray<HttpRow>>
}

/** One target's rows, or why it has none. */
export type HttpTargetResult =
  | {
    readonly _tag: "Measured"
    readonly effect: 3 | 4
    readonly loadGenerator: string
    readonly rows: ReadonlyArray<HttpRow>
  }
  | { readonly _tag: "Skipped"; readonly effect: 3 | 4; readonly reason: string }

export type HttpResult =
  | { readonly _tag: "Measured"; readonly targets: ReadonlyArray<HttpTargetResult>; readonly config: HttpBenchConfig }
  | { readonly _tag: "Skipped"; readonly reason: string }

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length === 0
    ? Number.NaN
    : sorted.length % 2 === 1
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The `p` quantile of ascending `sorted` values (NaN for none). */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

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

/** A comparison's paired rounds (the case's and the plain case's figures, round by round) as its row. */
export const pairedRow = (
  pair: { readonly name: string; readonly comparison: HttpComparison },
  mode: HttpRow["mode"],
  inFlight: number,
  guarded: ReadonlyArray<HttpFigures>,
  plain: ReadonlyArray<HttpFigures>
): HttpRow => ({
  name: pair.name,
  comparison: pair.comparison,
  mode,
  inFlight,
  rounds: guarded.length,
  ...medians(guarded),
  plain: medians(plain),
  ratios: Object.fromEntries(
    figureNames.map((f) => [f, ratioRange(guarded.map((g, i) => g[f] / plain[i]![f]))])
  ) as HttpRow["ratios"]
})

/** Each target's comparisons, one target after the other; a target that fails is reported as skipped. */
export const runHttp = async (
  targets: ReadonlyArray<HttpTarget>,
  config: HttpBenchConfig,
  log: (line: string) => void = () => {}
): Promise<HttpResult> => {
  const results: Array<HttpTargetResult> = []
  for (const target of targets) {
    log(`http on Effect ${target.effect}: ${config.rounds} rounds of ${config.millis} ms per case and mode`)
    results.push(
      await target.measure(config).then(
        (rows): HttpTargetResult => ({
          _tag: "Measured",
          effect: target.effect,
          loadGenerator: target.loadGenerator,
          rows
        }),
        (error: unknown): HttpTargetResult => ({
          _tag: "Skipped",
          effect: target.effect,
          reason: `failed: ${String(error)}`
        })
      )
    )
  }
  return { _tag: "Measured", targets: results, config }
}

// ---- report ----------------------------------------------------------------------------------------

const fixed = (n: number, digits = 2) => Number.isFinite(n) ? n.toFixed(digits) : "n/a"
const grouped = (n: number) => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a"
const ranged = (r: RatioRange) => `${fixed(r.median)}x (${fixed(r.lowest)}–${fixed(r.highest)})`

const measured = (result: HttpResult) =>
  result._tag === "Measured"
    ? result.targets.filter((t): t is Extract<HttpTargetResult, { _tag: "Measured" }> => t._tag === "Measured")
    : []

const rowOf = (rows: ReadonlyArray<HttpRow>, comparison: HttpComparison, mode: HttpRow["mode"]) =>
  rows.find((r) => r.comparison === comparison && r.mode === mode)

/** The section's text and table: each case's figures next to the plain case's, and the paired ratios. */
export const httpSection = (result: HttpResult): string => {
  if (result._tag === "Skipped") return `Not measured in this run: ${result.reason}.`
  const lines = measured(result).flatMap((t) =>
    t.rows.map((r) =>
      `| ${t.effect} | ${r.name} | ${r.mode} (${r.inFlight} in flight) | ${grouped(r.requestsPerSecond)} vs ${
        grouped(r.plain.requestsPerSecond)
      } | ${ranged(r.ratios.requestsPerSecond)} | ${grouped(r.p50Micros)} vs ${grouped(r.plain.p50Micros)} | ${
        ranged(r.ratios.p50Micros)
      } | ${grouped(r.p99Micros)} vs ${grouped(r.plain.p99Micros)} | ${ranged(r.ratios.p99Micros)} | ${
        fixed(r.cpuMicros, 0)
      } vs ${fixed(r.plain.cpuMicros, 0)} | ${ranged(r.ratios.cpuMicros)} |`
    )
  )
  const generators = result.targets.map((t) =>
    t._tag === "Measured"
      ? `- Effect ${t.effect}: ${t.loadGenerator}.`
      : `- Effect ${t.effect}: not measured in this run (${t.reason}).`
  )
  return `Loopback, plain against guarded in both directions, in one run, on each Effect target: the same
source (\`bench/targets/httpCases.ts\`) compiled once against Effect 3 with \`@effect/platform\` and once
against Effect 4 (\`effect/http\`) with the \`effect\` and \`@effect/platform-node\` of \`targets/effect4\`,
each with its own load generator, in the servers' process:
${generators.join("\n")}

Servers: the target's \`@effect/platform-node\` \`NodeHttpServer\` on 127.0.0.1 answering \`GET /\` with a
2-byte text. Outbound: the plain client against \`ResilientHttpClient.wrap\` of the same client (default
options: breaker, retry, attempt and total timeouts), both against the plain server. Inbound: the same
plain client against the plain server and against the same app behind \`RateLimitMiddleware\` (a limit no
run reaches: every request is granted), given to the server as its middleware (\`serve(app, limit)\`) and
applied to the app (\`serve(limit(app))\`: Effect 4's server makes a server span for every request it
serves through a middleware, even with no tracer installed, and none for an app alone), and, to show what that figure is made of, behind a pass-through
middleware (\`(app) => app\`: what the platform's middleware slot costs any middleware) and behind a
middleware that only adds the two header fields \`RateLimitMiddleware\` sends (\`RateLimit-Policy\` and
\`RateLimit\`: what sending and reading them costs). Control: the plain client against a second plain server, the
same code as the baseline: its ratios show this run's noise floor. Each comparison is ${result.config.rounds} paired
rounds (after a warm-up round) of ${result.config.millis} ms of the case and ${result.config.millis} ms of the plain case, back to back
in alternating order; a figure is "case vs plain" (medians over the rounds) and its ratio is the median
of the rounds' ratios, with their range in brackets (BENCH_HTTP_MS, BENCH_HTTP_ROUNDS,
BENCH_HTTP_CONCURRENCY, BENCH_HTTP_CASES; BENCH_ONLY=http runs this section alone). A ratio compares
two cases of the same target; the targets' absolute figures differ by runtime and load generator too.
Client, servers and load generator share one process and this machine's cores; CPU µs/request is that
process's CPU time (user + system) over the requests sent.

| Effect | case | mode | requests/s | ratio | p50 µs | ratio | p99 µs | ratio | CPU µs/request | ratio |
|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
${lines.join("\n")}`
}

/**
 * Per target: outbound, a guarded call's p50 at most 1.2x a plain call's; inbound, at most 5% fewer
 * requests/s, in both modes. Each with the control's figure, so a miss within the noise floor reads as
 * one. Effect 3's lines keep their names; the Effect 4 build's are prefixed as section 12's are. A target
 * that failed still gets its lines, as not measured.
 */
export const httpTargets = (result: HttpResult) => {
  const out: Array<{ target: string; measured: string; met: boolean | undefined }> = []
  if (result._tag === "Skipped") return out
  const only = result.config.only
  for (const target of result.targets) {
    const prefix = target.effect === 3 ? "HTTP" : "Effect 4 build: HTTP"
    const rows = target._tag === "Measured" ? target.rows : []
    const missing = target._tag === "Skipped" ? `not measured (${target.reason})` : "not measured"
    const control = (mode: HttpRow["mode"], figure: keyof HttpFigures) => {
      const row = rowOf(rows, "control", mode)
      return row === undefined ? "" : `; control (plain vs plain) ${ranged(row.ratios[figure])}`
    }
    if (only === undefined || only.includes("client")) {
      const client = rowOf(rows, "client", "sequential")
      out.push({
        target: `${prefix}: ResilientHttpClient call <= 1.2x a plain HttpClient call (loopback, p50, one in flight)`,
        measured: client === undefined ?
          missing :
          `${ranged(client.ratios.p50Micros)} (p50 ${grouped(client.p50Micros)} vs ${
            grouped(client.plain.p50Micros)
          } µs${control("sequential", "p50Micros")})`,
        met: client !== undefined && Number.isFinite(client.ratios.p50Micros.median)
          ? client.ratios.p50Micros.median <= 1.2
          : undefined
      })
    }
    /** Per mode: the server with `RateLimitMiddleware` in the `form` the comparison measures, >= 0.95x. */
    const requestsTarget = (
      comparison: HttpComparison,
      form: string,
      mode: HttpRow["mode"],
      parts = ""
    ) => {
      const row = rowOf(rows, comparison, mode)
      const rps = row?.ratios.requestsPerSecond.median ?? Number.NaN
      out.push({
        target: `${prefix}: server with RateLimitMiddleware${form} >= 0.95x the requests/s without it (${
          mode === "sequential" ? 1 : result.config.concurrency
        } in flight)`,
        measured: row === undefined ?
          missing :
          `${ranged(row.ratios.requestsPerSecond)} (${grouped(row.requestsPerSecond)} vs ${
            grouped(row.plain.requestsPerSecond)
          } requests/s${control(mode, "requestsPerSecond")}${parts})`,
        met: Number.isFinite(rps) ? rps >= 0.95 : undefined
      })
    }
    const modes = ["concurrent", "sequential"] as const
    if (only === undefined || only.includes("aroundApp")) {
      for (const mode of modes) requestsTarget("aroundApp", " applied to the app", mode)
    }
    if (only !== undefined && !only.includes("middleware")) continue
    // Beside the middleware's figure, its parts: the platform's middleware slot, and the two header fields.
    const part = (comparison: HttpComparison, what: string, mode: HttpRow["mode"]) => {
      const r = rowOf(rows, comparison, mode)
      return r === undefined ? "" : `; ${what} ${ranged(r.ratios.requestsPerSecond)}`
    }
    for (const mode of modes) {
      const parts = part("passThrough", "a pass-through middleware", mode) +
        part("headers", "the two RateLimit fields alone", mode)
      requestsTarget("middleware", "", mode, parts)
    }
  }
  return out
}
