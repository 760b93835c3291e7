/**
 * `npm run bench`: every guard and every peer in one process run, as ratios to baselines measured in the
 * same run; writes BENCHMARKS.md. Figures are reported, never asserted: the process fails only if a case
 * crashes. BENCH_ROUNDS, BENCH_SLICE_MS, BENCH_CONTENDED_MS, BENCH_KEYS, BENCH_REDIS_MS and BENCH_COLD_IMPORT_ROUNDS trade precision
 * for time. The Redis section uses REDIS_URL, else a private redis-server, else 127.0.0.1:6379. The Redis
 * Cluster section (BENCH_REDIS_CLUSTER_MS per slice) starts its own 6-node cluster and server;
 * `BENCH_ONLY=redis-cluster` runs that section alone and prints it (BENCHMARKS.md is left as it is).
 * `npm run bench` compiles it first (build.mjs) and runs it with `node --expose-gc`.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { mainTable, renderMarkdown } from "./report.js"
import { runBench } from "./run.js"
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

const report = await runBench({
  rounds: env("BENCH_ROUNDS", 15),
  sliceMs: env("BENCH_SLICE_MS", 40),
  contended: { fibers: 1_000, warmupMillis: 300, millis: env("BENCH_CONTENDED_MS", 1_500) },
  memory: { keys: env("BENCH_KEYS", 100_000), windows: [10, 60, 600, 3_600], perWindow: 1_000 },
  redis: { millis: env("BENCH_REDIS_MS", 1_000), rounds: 5, concurrency: 100, sample: 1_000 },
  redisCluster,
  coldImport: { rounds: env("BENCH_COLD_IMPORT_ROUNDS", 15) },
  log: (line) => console.error(`[bench] ${line}`)
})

const notes = fs.readFileSync(path.join(root, "bench", "notes.md"), "utf8")
const output = path.join(root, "BENCHMARKS.md")
fs.writeFileSync(output, renderMarkdown(report, notes))
console.log(mainTable(report))
console.log(`\nwrote ${output}`)
