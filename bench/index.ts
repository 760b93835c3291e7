/**
 * `npm run bench`: every guard and every peer in one process run, as ratios to baselines measured in the
 * same run; writes BENCHMARKS.md. Figures are reported, never asserted: the process fails only if a case
 * crashes. BENCH_ROUNDS, BENCH_SLICE_MS, BENCH_CONTENDED_MS, BENCH_KEYS, BENCH_REDIS_MS, BENCH_COLD_IMPORT_ROUNDS and BENCH_PAIRS trade precision
 * for time (BENCH_HTTP_MS, BENCH_HTTP_ROUNDS and BENCH_HTTP_CONCURRENCY for the HTTP section, BENCH_HTTP_CASES to
 * run some of its comparisons: any of control, client, middleware); BENCH_ONLY (a regular
 * expression over case names and sections; BENCH_ONLY=http runs the HTTP section alone) and BENCH_SKIP (any of
 * contended, memory, redis, cold, http, comma-separated) run part of it, for working on a few cases. The Redis section uses REDIS_URL, else a private redis-server, else 127.0.0.1:6379.
 * The Redis Cluster section (BENCH_REDIS_CLUSTER_MS per slice) starts its own 6-node cluster and server;
 * `BENCH_ONLY=redis-cluster` runs that section alone and prints it (BENCHMARKS.md is left as it is).
 * Our guards (section 12), the HTTP section and breakwater's side of the Redis section are measured on
 * both Effect targets: bench/targets/{guard,http,redis}Cases.ts, each compiled once per Effect.
 * `npm run bench` compiles it all first (build.mjs) and runs it with `node --expose-gc`.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { atTeardown } from "./floor.js"
import { bothTargetsSection, mainTable, renderMarkdown, targetTable } from "./report.js"
import { runBench, runHttpSection } from "./run.js"
import { httpComparisons, httpSection, httpTargets } from "./scenarios/http.js"
import { redisClusterTable, runRedisCluster } from "./scenarios/redisCluster.js"

// npm runs scripts from the package root; the compiled benchmark (see build.mjs) lives elsewhere.
const root = process.cwd()
const env = (name: string, fallback: number) => {
  const value = Number(process.env[name])
  return Number.isFinite(value) && value > 0 ? value : fallback
}

const redisCluster = { millis: env("BENCH_REDIS_CLUSTER_MS", 1_000), rounds: 5, concurrency: 100, sample: 1_000 }

if (process.env["BENCH_ONLY"] === "redis-cluster") {
  console.log(redisClusterTable(await runRedisCluster(redisCluster), redisCluster))
  // Closed clients of the stopped servers may still hold the loop: nothing is left to report.
  process.exit(0)
}

if (typeof (globalThis as { gc?: unknown }).gc !== "function") {
  console.error("note: run with node --expose-gc (npm run bench does) for the memory figures")
}

const httpCases = (process.env["BENCH_HTTP_CASES"] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "")
const http = {
  millis: env("BENCH_HTTP_MS", 200),
  rounds: env("BENCH_HTTP_ROUNDS", 21),
  concurrency: env("BENCH_HTTP_CONCURRENCY", 16),
  only: httpCases.length === 0 ? undefined : httpComparisons.filter((c) => httpCases.includes(c))
}

/**
 * The parts of the bench built once per Effect target (build.mjs writes `<name>-effect3.mjs` and
 * `<name>-effect4.mjs` beside this compiled file): the same source on each runtime, measured in one run.
 */
const loadBuilds = <Build, A>(name: "targets" | "http" | "redis", make: (build: Build, major: 3 | 4) => A) =>
  Promise.all(
    ([3, 4] as const).map(async (major) =>
      make(await import(new URL(`./${name}-effect${major}.mjs`, import.meta.url).href) as Build, major)
    )
  )
const httpTargetBuilds = await loadBuilds(
  "http",
  (build: typeof import("./targets/httpCases.js"), major) => build.httpTarget(major)
)

if (process.env.BENCH_ONLY === "http") {
  // The HTTP section alone, printed (BENCHMARKS.md is left as it is).
  const result = await runHttpSection(
    { http, httpTargets: httpTargetBuilds },
    (line) => console.error(`[bench] ${line}`)
  )
  console.log(httpSection(result))
  for (const t of httpTargets(result)) console.log(`${t.met ? "met" : "MISSED"}: ${t.target}: ${t.measured}`)
  process.exit(0)
}

// Our guards on each target, measured in the same rounds as the main table; the Redis section's side.
const targetBuilds = await loadBuilds("targets", (build: typeof import("./targets/guardCases.js"), major) => {
  const built = build.targetCases(major)
  atTeardown(built.close)
  return built.cases
})
const redisTargetBuilds = await loadBuilds(
  "redis",
  (build: typeof import("./targets/redisCases.js"), major) => build.redisTarget(major)
)

const report = await runBench({
  rounds: env("BENCH_ROUNDS", 15),
  sliceMs: env("BENCH_SLICE_MS", 40),
  contended: { fibers: 1_000, warmupMillis: 300, millis: env("BENCH_CONTENDED_MS", 1_500) },
  memory: { keys: env("BENCH_KEYS", 100_000), windows: [10, 60, 600, 3_600], perWindow: 1_000 },
  redis: { millis: env("BENCH_REDIS_MS", 1_000), rounds: 5, concurrency: 100, sample: 1_000 },
  redisCluster,
  coldImport: { rounds: env("BENCH_COLD_IMPORT_ROUNDS", 15) },
  pairs: env("BENCH_PAIRS", 21),
  http,
  targets: targetBuilds.flat(),
  httpTargets: httpTargetBuilds,
  redisTargets: redisTargetBuilds,
  log: (line) => console.error(`[bench] ${line}`),
  only: process.env["BENCH_ONLY"] ? new RegExp(process.env["BENCH_ONLY"]) : undefined,
  skip: new Set((process.env["BENCH_SKIP"] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== ""))
})

console.log(mainTable(report))
if (report.config.only !== undefined || (report.config.skip?.size ?? 0) > 0) {
  // A partial run is for working on a few cases: it prints, and leaves BENCHMARKS.md alone.
  console.log(`\n${bothTargetsSection(report)}\n\n${targetTable(report)}`)
} else {
  const notes = fs.readFileSync(path.join(root, "bench", "notes.md"), "utf8")
  const output = path.join(root, "BENCHMARKS.md")
  fs.writeFileSync(output, renderMarkdown(report, notes))
  console.log(`\nwrote ${output}`)
}
