/**
 * `npm run bench`: each guard's cost as a ratio to the floor wrapper, measured in one process run.
 *
 * The floor is the cheapest wrapper any guard needs: `Effect.suspend` + `Effect.matchCauseEffect`
 * with synchronous bookkeeping (see floor.ts). Figures are printed, never asserted; the process fails
 * only if a case crashes. BENCH_ROUNDS and BENCH_SLICE_MS trade precision for time.
 */
import * as os from "node:os"
import { cases as bulkhead } from "./cases/bulkhead.js"
import { cases as circuitBreaker } from "./cases/circuitBreaker.js"
import { cases as rateLimiter } from "./cases/rateLimiter.js"
import { cases as retry } from "./cases/retry.js"
import { cases as timeLimiter } from "./cases/timeLimiter.js"
import { baselines, floorBookkeeping } from "./floor.js"
import { measure } from "./harness.js"

const results = measure([...baselines, ...circuitBreaker, ...rateLimiter, ...bulkhead, ...timeLimiter, ...retry], {
  rounds: Number(process.env.BENCH_ROUNDS ?? 15),
  sliceMs: Number(process.env.BENCH_SLICE_MS ?? 40)
})

const ns = (name: string) => results.find((r) => r.name === name)!.nsPerOp
const floorSuccess = ns("floor wrapper, success")
const floorFailure = ns("floor wrapper, failure")
const closedSuccess = ns("breaker closed, count window, success")

console.log(
  `breakwater bench: ${os.cpus()[0]?.model ?? "unknown cpu"}, Node ${process.version}, ${new Date().toISOString()}`
)
console.table(results.map((r) => ({
  case: r.name,
  "ns/op": r.nsPerOp.toFixed(1),
  "ops/s": Math.round(1e9 / r.nsPerOp).toLocaleString("en-US"),
  "x floor": (r.nsPerOp / (/failure|refus/.test(r.name) ? floorFailure : floorSuccess)).toFixed(2),
  "x closed success": (r.nsPerOp / closedSuccess).toFixed(2)
})))
console.log(
  "Targets: closed breaker and uncontended guards <= 1.3x the floor; open-breaker refusal <= 1.0x a closed success."
)
if (floorBookkeeping() === Number.MIN_SAFE_INTEGER) console.log("(unreachable: keeps the floor's bookkeeping live)")
