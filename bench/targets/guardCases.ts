/**
 * Our guards on either Effect target, for the side-by-side section of `npm run bench` (issue 17). This file
 * is compiled twice by build.mjs: once against Effect 3 and its port, once with `effect` resolved to
 * Effect 4 (the `effect4` npm alias) and `#port` to the Effect 4 port, so both builds are the same source
 * measured in one process. It imports only names both Effects share, and each build measures its own
 * floor, so a guard's cost is read as a ratio to its own runtime's floor.
 */
import { scopeProvide } from "#port"
import { Effect, Exit, Scope } from "effect"
import { Bulkhead, CircuitBreaker, Policy, RateLimiter, Retry, TimeLimiter } from "../../src/index.js"
import type { Case } from "../harness.js"
import { floor, timedFloor } from "./floorWrapper.js"
import { meteredStack } from "./meteredStack.js"
import { checkMajor, failureCases, onTarget, TargetCase } from "./names.js"

/**
 * Builds the guards in a scope of their own and returns the cases, named for the build's Effect `major`
 * (see {@link onTarget}), with a `close` for the end of the run.
 */
export const targetCases = (major: 3 | 4): { readonly cases: ReadonlyArray<Case>; readonly close: () => void } => {
  checkMajor(major, Effect)
  const scope = Effect.runSync(Scope.make())
  const build = <A, E>(make: Effect.Effect<A, E, Scope.Scope>): A => Effect.runSync(scopeProvide(make, scope))
  const call = Effect.succeed(1)
  const failing = Effect.fail("boom")
  const guards = build(Effect.gen(function*() {
    const open = yield* CircuitBreaker.make({ name: "open", waitDurationInOpenState: "1 hour" })
    yield* open.transitionToOpen
    return {
      count: yield* CircuitBreaker.make({ name: "count", slidingWindowSize: 100, minimumNumberOfCalls: 100 }),
      time: yield* CircuitBreaker.make({
        name: "time",
        slidingWindowType: "TIME_BASED",
        slidingWindowSize: 60,
        minimumNumberOfCalls: 100
      }),
      // Records failures but never trips: the minimum number of calls is never reached.
      tolerant: yield* CircuitBreaker.make({
        name: "tolerant",
        slidingWindowType: "TIME_BASED",
        minimumNumberOfCalls: 1e12
      }),
      open,
      // Limits no run reaches: the uncontended path.
      fixed: yield* RateLimiter.make({ name: "fixed", limitForPeriod: 1e12, limitRefreshPeriod: "1 hour" }),
      bucket: yield* RateLimiter.make({
        name: "bucket",
        algorithm: "token-bucket",
        limitForPeriod: 1e12,
        limitRefreshPeriod: "1 hour"
      }),
      sliding: yield* RateLimiter.make({
        name: "sliding",
        algorithm: "sliding-window",
        limitForPeriod: 1e6,
        limitRefreshPeriod: "1 millis"
      }),
      bulkhead: yield* Bulkhead.make({ name: "roomy", maxConcurrentCalls: 25 }),
      retry: yield* Retry.make({ name: "plain" }),
      timeLimiter: yield* TimeLimiter.make({ name: "limited", timeoutDuration: "1 minute" }),
      metered: yield* meteredStack,
      stack: Policy.ordered({
        retry: Retry.policy(yield* Retry.make({ name: "stack", maxAttempts: 3 })),
        circuitBreaker: CircuitBreaker.policy(yield* CircuitBreaker.make({ name: "stack" })),
        rateLimiter: RateLimiter.policy(
          yield* RateLimiter.make({ name: "stack", limitForPeriod: 1e12, limitRefreshPeriod: "1 hour" })
        ),
        bulkhead: Bulkhead.policy(yield* Bulkhead.make({ name: "stack", maxConcurrentCalls: 25 }))
      })
    }
  }))
  const ops: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
    [TargetCase.floor, floor(call)],
    [TargetCase.floorFailure, floor(failing)],
    [TargetCase.floorTimed, timedFloor(call)],
    [TargetCase.floorStack, floor(floor(floor(floor(call))))],
    [TargetCase.breakerCount, CircuitBreaker.withCircuitBreaker(call, guards.count)],
    [TargetCase.breakerTime, CircuitBreaker.withCircuitBreaker(call, guards.time)],
    [TargetCase.breakerFailure, CircuitBreaker.withCircuitBreaker(failing, guards.tolerant)],
    [TargetCase.breakerOpen, CircuitBreaker.withCircuitBreaker(call, guards.open)],
    [TargetCase.fixedWindow, RateLimiter.withRateLimiter(call, guards.fixed)],
    [TargetCase.tokenBucket, RateLimiter.withRateLimiter(call, guards.bucket)],
    [TargetCase.slidingWindow, RateLimiter.withRateLimiter(call, guards.sliding)],
    [TargetCase.bulkhead, Bulkhead.withBulkhead(call, guards.bulkhead)],
    [TargetCase.retry, Retry.withRetry(call, guards.retry)],
    [TargetCase.timeLimiter, TimeLimiter.withTimeLimiter(call, guards.timeLimiter)],
    [TargetCase.stack, guards.stack(call)],
    [TargetCase.stackMetered, guards.metered.guard(call)]
  ]
  const cases = ops.map(([name, op]): Case => ({
    name: onTarget(major, name),
    baseline: onTarget(major, failureCases.has(name) ? TargetCase.floorFailure : TargetCase.floor),
    run: (n) => {
      const exit = Effect.runSyncExit(Effect.gen(function*() {
        for (let i = 0; i < n; i++) yield* Effect.exit(op)
      }))
      if (Exit.isFailure(exit)) throw new Error(`${onTarget(major, name)} crashed`)
      if (name === TargetCase.stackMetered) guards.metered.collector.unsafeCollect()
    }
  }))
  return { cases, close: () => Effect.runSync(Scope.close(scope, Exit.void)) }
}
