/**
 * Runs only the Redis section of the benchmark (section 9) and prints it: for working on the Redis store
 * without the full run. Compile it as bench/build.mjs compiles the full bench (no keepNames), beside the
 * target builds of bench/targets/redisCases.ts that build.mjs writes:
 *   npm run build:effect3 && node bench/build.mjs && npx esbuild bench/redisOnly.ts --bundle --platform=node \
 *     --format=esm --packages=external --outfile=node_modules/.cache/breakwater-bench/redis.mjs \
 *     && node node_modules/.cache/breakwater-bench/redis.mjs
 */
import { runRedis } from "./scenarios/redis.js"

const millis = Number(process.env["BENCH_REDIS_MS"] ?? 1_000)
const targets = await Promise.all(([3, 4] as const).map(async (major) => {
  const build = await import(
    new URL(`./redis-effect${major}.mjs`, import.meta.url).href
  ) as typeof import("./targets/redisCases.js")
  return build.redisTarget(major)
}))
const result = await runRedis({ millis, rounds: 5, concurrency: 100, sample: 1_000 }, targets)
if (result._tag === "Skipped") console.log(`skipped: ${result.reason}`)
else {
  console.log(`server: ${result.server}, concurrency ${result.concurrency}`)
  console.log("| Effect | case | acquires/s | round trips per acquire | Redis µs per acquire |")
  for (const row of result.rows) {
    console.log(
      `| ${row.effect ?? "–"} | ${row.name} | ${Math.round(row.acquiresPerSecond)} | ${
        row.roundTripsPerAcquire.toFixed(2)
      } | ${row.redisMicrosPerAcquire.toFixed(2)} |`
    )
  }
  console.log("| Effect | shared breaker | calls/s | round trips per call | Redis µs per call |")
  for (const row of result.breakerRows) {
    console.log(
      `| ${row.effect} | ${row.name} | ${Math.round(row.callsPerSecond)} | ${row.roundTripsPerCall.toFixed(2)} | ${
        row.redisMicrosPerCall.toFixed(2)
      } |`
    )
  }
}
// The limiters' connections were closed with their scopes; what still holds the loop (a reconnecting
// client of the stopped private server) has nothing left to report.
process.exit(0)
