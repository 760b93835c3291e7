/**
 * Soak: REAL CLOCK. This is the one test file that sleeps for real (bounded: at most 5 s of load, ended
 * as soon as every outcome happened and the fibers made a call each on average; well under 20 s in all), because the interleavings that matter here come from real timers and a real
 * scheduler, not from TestClock.
 *
 * 10,000 fibers hammer a composed stack — Policy.ordered(retry, breaker, limiter, time limiter,
 * bulkhead) around a dependency with random latency, failures and defects — while a share of calls is
 * interrupted at random points and, at the end, every worker is interrupted wherever it is. Afterwards:
 * every permit is back, no fiber is left running, the heap returns near its baseline, and the
 * outcomes add up (calls = successes + failures + refusals + defects + interruptions, and the retry's
 * own metrics count exactly the calls that were not interrupted).
 */
import { failureOf, forkChild, isInterruptOnly } from "#port"
import { makeFiberTracker } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Bulkhead, CircuitBreaker, Policy, RateLimiter, Retry, TimeLimiter } from "breakwater"
import { Data, Duration, Effect, Exit, Fiber, Option, Random } from "effect"
import * as v8 from "node:v8"
import * as vm from "node:vm"

class Flaky extends Data.TaggedError("Flaky") {}

const FIBERS = 10_000
/** The longest the load may last; it ends as soon as it has done its job (see below). */
const LOAD_MILLIS = 5_000
/** The calls the load makes at least: one per fiber on average, so that all of them take part. */
const MIN_CALLS = FIBERS

/** `gc` from a fresh context once the flag is on: vitest's workers do not start with --expose-gc. */
const gc = (): (() => void) | undefined => {
  try {
    v8.setFlagsFromString("--expose-gc")
    return vm.runInNewContext("gc") as () => void
  } catch {
    return undefined
  }
}

const settledHeap = async (collect: (() => void) | undefined) => {
  for (let i = 0; i < 5; i++) {
    collect?.()
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return process.memoryUsage().heapUsed
}

const REFUSALS = new Set(["CallNotPermittedError", "RequestNotPermittedError", "BulkheadFullError"])

describe("soak (real clock)", () => {
  it.live(
    "10,000 fibers on a composed stack: permits back, no fiber left, heap near baseline, metrics add up",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "soak",
          failureRateThreshold: 60,
          slidingWindowSize: 200,
          minimumNumberOfCalls: 50,
          waitDurationInOpenState: "50 millis",
          permittedNumberOfCallsInHalfOpenState: 20,
          // The inner guards' refusals say nothing about the dependency's health.
          ignoreError: (e: unknown) => REFUSALS.has((e as { readonly _tag?: string })._tag ?? "")
        })
        const limiter = yield* RateLimiter.make({
          name: "soak",
          limitForPeriod: 1500,
          limitRefreshPeriod: "20 millis",
          timeoutDuration: "10 millis"
        })
        const bulkhead = yield* Bulkhead.make({ name: "soak", maxConcurrentCalls: 1000, maxWaitDuration: "20 millis" })
        const timeLimiter = yield* TimeLimiter.make({ name: "soak", timeoutDuration: "10 millis" })
        const retry = yield* Retry.make({ name: "soak", maxAttempts: 2, waitDuration: "1 millis" })
        const guard = Policy.ordered({
          retry: Retry.policy(retry),
          circuitBreaker: CircuitBreaker.policy(breaker),
          rateLimiter: RateLimiter.policy(limiter),
          timeLimiter: TimeLimiter.policy(timeLimiter),
          bulkhead: Bulkhead.policy(bulkhead)
        })

        let inside = 0
        let peakInside = 0
        const dependency = Effect.suspend(() => {
          peakInside = Math.max(peakInside, ++inside)
          return Effect.gen(function*() {
            const roll = yield* Random.next
            yield* Effect.sleep(Duration.millis(Math.floor(roll * 10))) // sometimes beyond the 8 ms limit
            if (roll > 0.85) return yield* Effect.fail(new Flaky())
            if (roll > 0.845 && roll <= 0.85) return yield* Effect.die("bug")
            return "ok"
          }).pipe(Effect.ensuring(Effect.sync(() => inside--))) // on every exit, interruption included
        })

        const tally = { calls: 0, successes: 0, failures: 0, refusals: 0, defects: 0, interrupted: 0 }
        const record = (exit: Exit.Exit<unknown, unknown>) => {
          tally.calls++
          if (Exit.isSuccess(exit)) return void tally.successes++
          if (isInterruptOnly(exit.cause)) return void tally.interrupted++
          const failure = failureOf(exit.cause)
          if (Option.isNone(failure)) return void tally.defects++
          const tag = (failure.value as { readonly _tag?: string })._tag ?? ""
          if (REFUSALS.has(tag)) tally.refusals++
          else tally.failures++
        }

        // Set once every worker is forked (forking 10,000 fibers through the stack takes a while).
        let deadline = Number.POSITIVE_INFINITY
        const worker = Effect.gen(function*() {
          while (Date.now() < deadline) {
            const roll = yield* Random.next
            if (roll < 0.05) {
              // Interrupted at a random point: waiting for a permit, running, or retrying.
              const fiber = yield* forkChild(guard(dependency))
              yield* Effect.sleep(Duration.millis(Math.floor(roll * 200)))
              yield* Fiber.interrupt(fiber)
              record(yield* Fiber.await(fiber))
            } else {
              record(yield* Effect.exit(guard(dependency)))
            }
            if (roll > 0.9) yield* Effect.sleep("2 millis") // a think time now and then
          }
        })

        const collect = gc()
        const baseline = yield* Effect.promise(() => settledHeap(collect))
        const fibers = yield* makeFiberTracker
        const started = Date.now()
        let workers = yield* fibers.track(Effect.forEach(Array.from({ length: FIBERS }), () => forkChild(worker)))
        const forked = Date.now() - started
        deadline = Date.now() + LOAD_MILLIS
        // The load lasts until every outcome has happened and the fibers made at least one call each on
        // average, LOAD_MILLIS at most (then the check below names the outcome that never happened).
        const everyOutcomeSeen = () =>
          tally.successes > 0 && tally.failures + tally.defects > 0 && tally.refusals > 0 && tally.interrupted > 0
        while (Date.now() < deadline && !(everyOutcomeSeen() && tally.calls >= MIN_CALLS)) {
          yield* Effect.sleep("20 millis")
        }
        deadline = Math.min(deadline, Date.now())
        // Most end at the deadline; the stragglers are interrupted wherever they are.
        yield* Effect.sleep("500 millis")
        yield* Fiber.interruptAll(workers)
        workers = [] // the fibers themselves must not be what keeps the heap up
        const elapsed = Date.now() - started
        yield* Effect.sleep("50 millis") // limiter and bulkhead timers of the last waiters

        // No fiber left running: every fiber forked in the tracked region (workers and their children).
        expect(yield* fibers.alive).toBe(0)
        expect(inside).toBe(0)
        expect(peakInside).toBeLessThanOrEqual(1000)
        // Every permit is back.
        expect(yield* bulkhead.metrics).toEqual({ availableConcurrentCalls: 1000, maxAllowedConcurrentCalls: 1000 })
        expect((yield* limiter.metrics).numberOfWaitingFibers).toBe(0)
        // The outcomes add up, and the retry counted exactly the calls that were not interrupted.
        const { calls, defects, failures, interrupted, refusals, successes } = tally
        expect(calls).toBe(successes + failures + refusals + defects + interrupted)
        const m = yield* retry.metrics
        expect(
          m.numberOfSuccessfulCallsWithoutRetryAttempt + m.numberOfSuccessfulCallsWithRetryAttempt
        ).toBe(successes)
        expect(m.numberOfFailedCallsWithoutRetryAttempt + m.numberOfFailedCallsWithRetryAttempt).toBe(
          failures + refusals + defects
        )
        // Every outcome happened: the run exercised each path.
        for (const [outcome, n] of Object.entries({ successes, failures: failures + defects, refusals, interrupted })) {
          expect(n, `${outcome} in ${JSON.stringify(tally)} (forking took ${forked} ms)`).toBeGreaterThan(0)
        }

        const after = yield* Effect.promise(() => settledHeap(collect))
        const growthMb = (after - baseline) / 1024 / 1024
        console.log(
          `soak: ${FIBERS} fibers forked in ${forked} ms; ${calls} calls in ${elapsed} ms (${
            Math.round(calls / (elapsed / 1000))
          }/s): ` +
            `${successes} ok, ${failures} failed, ${refusals} refused, ${defects} defects, ${interrupted} interrupted; ` +
            `heap ${(baseline / 1048576).toFixed(1)} MB -> ${(after / 1048576).toFixed(1)} MB ` +
            `(${growthMb >= 0 ? "+" : ""}${growthMb.toFixed(1)} MB, gc ${
              collect === undefined ? "unavailable" : "forced"
            })`
        )
        // Near baseline: the fibers, their stacks and the guards' queues are gone.
        expect(growthMb).toBeLessThan(collect === undefined ? 64 : 16)
      })),
    30_000
  )
})
