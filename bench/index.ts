/**
 * `npm run bench`: guard costs as ratios to the floor wrapper, measured in one process run.
 *
 * The floor is the cheapest wrapper any guard needs: `Effect.suspend` + `Effect.matchCauseEffect`
 * with synchronous bookkeeping. Each measurement runs a batch of guarded calls inside one
 * `Effect.runSync`, so the runtime's entry cost is shared equally. Figures are printed, never asserted;
 * the process fails only if a case crashes.
 */
import { Effect, Exit, Scope } from "effect"
import * as os from "node:os"
import { CircuitBreaker } from "../src/index.js"
import { type Case, measure } from "./harness.js"

const call = Effect.succeed(1)
const failing = Effect.fail("boom")

let bookkeeping = 0
const floor = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    bookkeeping++
    return Effect.matchCauseEffect(self, {
      onSuccess: (a) => {
        bookkeeping++
        return Effect.succeed(a)
      },
      onFailure: (cause) => {
        bookkeeping--
        return Effect.failCause(cause)
      }
    })
  })

const effectCase = (name: string, op: Effect.Effect<unknown, unknown>): Case => ({
  name,
  run: (ops) => {
    const exit = Effect.runSyncExit(Effect.gen(function*() {
      for (let i = 0; i < ops; i++) yield* Effect.exit(op)
    }))
    if (Exit.isFailure(exit)) throw new Error(`${name} crashed`)
  }
})

const benchScope = Effect.runSync(Scope.make())
const inScope = <A>(make: Effect.Effect<A, unknown, Scope.Scope>): A => Effect.runSync(Scope.extend(make, benchScope))

const countBreaker = inScope(CircuitBreaker.make({ name: "count", slidingWindowSize: 100, minimumNumberOfCalls: 100 }))
const timeBreaker = inScope(
  CircuitBreaker.make({ name: "time", slidingWindowType: "TIME_BASED", slidingWindowSize: 60, minimumNumberOfCalls: 100 })
)
// Failing calls that are recorded but never trip: the minimum number of calls is never reached.
const tolerant = inScope(
  CircuitBreaker.make({ name: "tolerant", slidingWindowType: "TIME_BASED", minimumNumberOfCalls: 1e12 })
)
const open = inScope(CircuitBreaker.make({ name: "open", waitDurationInOpenState: "1 hour" }))
Effect.runSync(open.transitionToOpen)

const results = measure([
  effectCase("bare Effect.succeed", call),
  effectCase("floor wrapper, success", floor(call)),
  effectCase("floor wrapper, failure", floor(failing)),
  effectCase("breaker closed, count window, success", CircuitBreaker.withCircuitBreaker(call, countBreaker)),
  effectCase("breaker closed, time window, success", CircuitBreaker.withCircuitBreaker(call, timeBreaker)),
  effectCase("breaker closed, failure recorded", CircuitBreaker.withCircuitBreaker(failing, tolerant)),
  effectCase("breaker open, refusal", CircuitBreaker.withCircuitBreaker(call, open))
], { rounds: Number(process.env.BENCH_ROUNDS ?? 15), sliceMs: Number(process.env.BENCH_SLICE_MS ?? 40) })

const ns = (name: string) => results.find((r) => r.name === name)!.nsPerOp
const floorSuccess = ns("floor wrapper, success")
const floorFailure = ns("floor wrapper, failure")
const closedSuccess = ns("breaker closed, count window, success")

console.log(`breakwater bench: ${os.cpus()[0]?.model ?? "unknown cpu"}, Node ${process.version}, ${new Date().toISOString()}`)
console.table(results.map((r) => ({
  case: r.name,
  "ns/op": r.nsPerOp.toFixed(1),
  "ops/s": Math.round(1e9 / r.nsPerOp).toLocaleString("en-US"),
  "x floor": (r.nsPerOp / (r.name.includes("failure") ? floorFailure : floorSuccess)).toFixed(2),
  "x closed success": (r.nsPerOp / closedSuccess).toFixed(2)
})))
console.log("Targets: closed breaker <= 1.3x the floor; open-breaker refusal <= 1.0x a closed success.")
if (bookkeeping === Number.MIN_SAFE_INTEGER) console.log("unreachable: keeps the floor's bookkeeping live")
