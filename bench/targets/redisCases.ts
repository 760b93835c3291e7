/**
 * breakwater's side of the Redis section (bench/scenarios/redis.ts measures them) on either Effect
 * target: RedisStore limiters and the shared circuit breaker's operations, each a `Subject` looping
 * calls as fibers of one Effect program. This file is compiled twice by build.mjs: once against Effect 3,
 * once against Effect 4 (the `effect` of targets/effect4), `#port` resolved to that target's port; it
 * imports only names both Effects share, so both builds make the same guards on the same kind of client.
 */
import { scopeProvide } from "#port"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import type { Redis } from "ioredis"
import { CircuitBreaker, RateLimiter } from "../../src/index.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import type { CircuitSettings } from "../../src/store/CircuitBreakerStore.js"
import { Store } from "../../src/store/Store.js"
import type { RedisSetup, RedisTarget, Subject } from "../scenarios/redis.js"
import { RedisBreakerCases, RedisCases } from "../scenarios/redisNames.js"
import { checkMajor } from "./names.js"

const effectLoop = (acquire: Effect.Effect<unknown, unknown>) => (callers: number, until: () => boolean) => {
  let count = 0
  const caller = Effect.whileLoop({
    while: () => !until(),
    body: () => acquire,
    step: () => count++
  })
  return Effect.runPromise(
    Effect.as(Effect.all(Array.from({ length: callers }, () => caller), { concurrency: "unbounded", discard: true }), 0)
  ).then(() => count)
}

/** An Effect that may fail (a refusal), looped as `effectLoop` loops an acquire. */
const exitLoop = (call: Effect.Effect<unknown, unknown>) => effectLoop(Effect.exit(call))

/**
 * A client and a scope of its own, closed (scope first, then the client) when the section ends; `make`
 * runs in that scope with the store's context.
 */
const withStore = async <A>(
  setup: RedisSetup,
  make: (context: Context.Context<Store>) => Effect.Effect<A, unknown, Scope.Scope>
): Promise<{ readonly value: A; readonly redis: Redis; readonly context: Context.Context<Store> }> => {
  const redis = await setup.client(setup.url)
  const scope = await Effect.runPromise(Scope.make())
  setup.closers.push(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    redis.disconnect()
  })
  return Effect.runPromise(
    Effect.flatMap(
      Layer.buildWithScope(RedisStore.layer({ client: redis }, { prefix: setup.prefix }), scope),
      (context) => Effect.map(scopeProvide(make(context), scope), (value) => ({ value, redis, context }))
    ).pipe(Effect.orDie)
  )
}

/** Fixed-window sequential and concurrent, token-bucket and sliding-window concurrent: every acquire granted. */
const limiterSubjects = (major: 3 | 4) => async (setup: RedisSetup): Promise<ReadonlyArray<Subject>> => {
  const subjects: Array<Subject> = []
  for (
    const [name, algorithm, concurrent] of [
      [RedisCases.sequential, "fixed-window", false],
      [RedisCases.concurrent, "fixed-window", true],
      [RedisCases.tokenBucket, "token-bucket", true],
      [RedisCases.slidingWindow, "sliding-window", true]
    ] as const
  ) {
    const { redis, value: limiter } = await withStore(setup, (store) =>
      RateLimiter.make({
        name: `${algorithm}-${concurrent}`,
        algorithm,
        limitForPeriod: 1_000_000_000,
        limitRefreshPeriod: "1 hour"
      }).pipe(Effect.provide(store)))
    subjects.push({ name, effect: major, client: redis, concurrent, loop: effectLoop(limiter.acquire()) })
  }
  return subjects
}

/**
 * The shared circuit breaker on the same server: a call in Closed (one round trip, its record, after
 * the call), a refusal in Open (none: decided from the cached shared state), a trial call in HalfOpen
 * (two: the lease before, the record after), and the two operations that run beside calls: a lease
 * renewal (a slow trial renews its lease every half lease) and a re-read of the shared state (Open,
 * ForcedOpen and Disabled re-read every 5 seconds, every breaker on a pub/sub hint or a reconnection),
 * the latter two through the store itself as the breaker calls it.
 */
const breakerSubjects = (major: 3 | 4) => async (setup: RedisSetup): Promise<ReadonlyArray<Subject>> => {
  const subjects: Array<Subject> = []
  const made = async (name: string, options: Omit<CircuitBreaker.Options, "name">) => {
    const { context, redis, value: breaker } = await withStore(
      setup,
      (store) => CircuitBreaker.make({ name, ...options }).pipe(Effect.provide(store))
    )
    return { breaker, redis, store: Context.get(context, Store).circuitBreaker }
  }
  const call = Effect.void
  // Closed: thresholds never reached (the minimum number of calls is never buffered).
  for (
    const [name, concurrent] of [[RedisBreakerCases.closed, false], [RedisBreakerCases.closedConcurrent, true]] as const
  ) {
    const { breaker, redis } = await made(`closed-${concurrent}`, {
      slidingWindowType: "TIME_BASED",
      minimumNumberOfCalls: 1_000_000_000
    })
    subjects.push({
      name,
      effect: major,
      client: redis,
      concurrent,
      loop: exitLoop(CircuitBreaker.withCircuitBreaker(call, breaker))
    })
  }
  {
    const { breaker, redis } = await made("open", { waitDurationInOpenState: "1 hour" })
    await Effect.runPromise(breaker.transitionToOpen)
    subjects.push({
      name: RedisBreakerCases.refusal,
      effect: major,
      client: redis,
      concurrent: false,
      loop: exitLoop(CircuitBreaker.withCircuitBreaker(call, breaker))
    })
  }
  {
    // HalfOpen for the whole run: more trial permits than a run can take, no maximum wait.
    const { breaker, redis, store } = await made("halfopen", {
      permittedNumberOfCallsInHalfOpenState: 1_000_000,
      minimumNumberOfCalls: 1_000_000,
      waitDurationInOpenState: "1 hour"
    })
    await Effect.runPromise(Effect.andThen(breaker.transitionToOpen, breaker.transitionToHalfOpen))
    subjects.push({
      name: RedisBreakerCases.halfOpen,
      effect: major,
      client: redis,
      concurrent: false,
      loop: exitLoop(CircuitBreaker.withCircuitBreaker(call, breaker))
    })
    // The store as the breaker calls it, with the breaker's own settings (internal to the breaker).
    const settings = (breaker as unknown as { readonly settings: CircuitSettings }).settings
    const leaseId = "bench-lease"
    await Effect.runPromise(Effect.orDie(store.acquire("halfopen", settings, leaseId)))
    subjects.push({
      name: RedisBreakerCases.renew,
      effect: major,
      client: redis,
      concurrent: false,
      loop: exitLoop(store.renew("halfopen", settings, leaseId))
    })
    subjects.push({
      name: RedisBreakerCases.reread,
      effect: major,
      client: redis,
      concurrent: false,
      loop: exitLoop(store.read("halfopen", settings))
    })
  }
  return subjects
}

/** breakwater's Redis subjects on the Effect `major` this file was compiled for. */
export const redisTarget = (major: 3 | 4): RedisTarget => {
  checkMajor(major, Effect)
  return { effect: major, limiterSubjects: limiterSubjects(major), breakerSubjects: breakerSubjects(major) }
}
