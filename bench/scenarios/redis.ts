/**
 * Redis-backed acquire: breakwater's RedisStore against rate-limiter-flexible's `RateLimiterRedis`, on
 * the same server in the same run, each with its own ioredis client with the same options (the store's
 * fail-fast options, auto-pipelining on). Limits are far above what a run can take, so every acquire is
 * granted: what is measured is the cost of a decision. Reported per case:
 * - acquires per second, sequential (one caller awaiting each acquire) and concurrent (`concurrency`
 *   callers at once, whose commands ioredis pipelines), median of alternating rounds;
 * - round trips per acquire: the commands the client sent, counted by Redis (MONITOR, which shows the
 *   commands a script runs as coming from "lua": those are not round trips) over a sample of acquires;
 * - Redis CPU per acquire: EVALSHA's `usec_per_call` in `INFO commandstats` over a sample run alone
 *   (statistics reset first; so the section resets them on the server it uses).
 *
 * The server: `REDIS_URL` when set; else a private `redis-server` on a free port (clean, unshared); else
 * 127.0.0.1:6379; else the section is skipped with a note.
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { Redis } from "ioredis"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { RateLimiterRedis } from "rate-limiter-flexible"
import { CircuitBreaker, RateLimiter } from "../../src/index.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import type { CircuitSettings } from "../../src/store/CircuitBreakerStore.js"
import { Store } from "../../src/store/Store.js"
import { freePort } from "../../test/helpers/freePort.js"

export interface RedisRow {
  readonly name: string
  readonly acquiresPerSecond: number
  readonly roundTripsPerAcquire: number
  /** Redis's own CPU time per acquire (`INFO commandstats`: EVALSHA's usec_per_call; both libraries run one script). */
  readonly redisMicrosPerAcquire: number
}

/** A shared circuit breaker's operation: calls per second, round trips and Redis CPU per call. */
export interface RedisBreakerRow {
  readonly name: string
  readonly callsPerSecond: number
  /** Commands the client sent per call (MONITOR), as for the limiter rows. */
  readonly roundTripsPerCall: number
  /** Redis's CPU per call: every EVALSHA's time (`INFO commandstats`) over the calls made. */
  readonly redisMicrosPerCall: number
}

export type RedisResult =
  | {
    readonly _tag: "Measured"
    readonly server: string
    readonly concurrency: number
    readonly rows: ReadonlyArray<RedisRow>
    readonly breakerRows: ReadonlyArray<RedisBreakerRow>
  }
  | { readonly _tag: "Skipped"; readonly reason: string }

export interface RedisBenchConfig {
  /** Length of each timed slice. */
  readonly millis: number
  readonly rounds: number
  readonly concurrency: number
  /** Acquires counted under MONITOR for the round trips. */
  readonly sample: number
}

export const RedisCases = {
  sequential: "breakwater RedisStore fixed-window, sequential",
  concurrent: "breakwater RedisStore fixed-window, concurrent",
  tokenBucket: "breakwater RedisStore token-bucket, concurrent",
  slidingWindow: "breakwater RedisStore sliding-window, concurrent",
  flexibleSequential: "rate-limiter-flexible RateLimiterRedis, sequential",
  flexibleConcurrent: "rate-limiter-flexible RateLimiterRedis, concurrent"
} as const

export const RedisBreakerCases = {
  closed: "shared breaker Closed, successful call, sequential",
  closedConcurrent: "shared breaker Closed, successful call, concurrent",
  refusal: "shared breaker Open, refusal, sequential",
  halfOpen: "shared breaker HalfOpen, trial call (lease + record), sequential",
  renew: "lease renewal (CircuitBreakerStore.renew), sequential",
  reread: "re-read of the shared state (CircuitBreakerStore.read), sequential"
} as const

const ping = (url: string): Promise<boolean> =>
  new Promise((resolve) => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    client.on("error", () => {})
    client.connect().then(() => client.ping()).then(
      () => resolve(true),
      () => resolve(false)
    ).finally(() => client.disconnect())
  })

const privateServer = async (): Promise<{ url: string; stop: () => void } | undefined> => {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" })
  } catch {
    return undefined
  }
  const port = await freePort()
  const child: ChildProcess = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", ""], {
    stdio: "ignore"
  })
  const url = `redis://127.0.0.1:${port}`
  for (let i = 0; i < 100 && !(await ping(url)); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  return { url, stop: () => child.kill("SIGKILL") }
}

const findServer = async (): Promise<{ url: string; label: string; stop: () => void } | undefined> => {
  const fromEnv = process.env["REDIS_URL"]
  if (fromEnv !== undefined && fromEnv !== "") return { url: fromEnv, label: "REDIS_URL", stop: () => {} }
  const own = await privateServer()
  if (own !== undefined) return { ...own, label: "a private redis-server on loopback" }
  const local = "redis://127.0.0.1:6379"
  if (await ping(local)) return { url: local, label: "127.0.0.1:6379", stop: () => {} }
  return undefined
}

/**
 * One way of acquiring: `loop(callers, until)` runs that many callers, each acquiring one permit at a
 * time until `until()` says stop, and resolves to the acquires made. Each side runs as its users would
 * run it: breakwater's callers are fibers of one Effect program, rate-limiter-flexible's async loops.
 */
interface Subject {
  readonly name: string
  readonly client: Redis
  readonly loop: (callers: number, until: () => boolean) => Promise<number>
  readonly concurrent: boolean
}

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

const promiseLoop = (acquire: () => Promise<unknown>) => async (callers: number, until: () => boolean) => {
  let count = 0
  await Promise.all(Array.from({ length: callers }, async () => {
    while (!until()) {
      await acquire()
      count++
    }
  }))
  return count
}

const client = async (url: string) => {
  const redis = new Redis(url, { ...RedisStore.clientOptions })
  redis.on("error", () => {})
  await new Promise((resolve) => redis.once("ready", resolve))
  return redis
}

/** Acquires per second over `millis`, from 1 or `concurrency` callers looping. */
const throughput = async (subject: Subject, millis: number, concurrency: number): Promise<number> => {
  const start = performance.now()
  const deadline = start + millis
  const count = await subject.loop(subject.concurrent ? concurrency : 1, () => performance.now() >= deadline)
  return count / ((performance.now() - start) / 1000)
}

/** Commands the subject's connection sent (not those its scripts ran) per acquire, as Redis saw them. */
const roundTrips = async (url: string, subject: Subject, sample: number, concurrency: number): Promise<number> => {
  // monitor() opens a second connection: both are closed below, or the first would reconnect forever
  // once the private server stops (and keep the process alive).
  const base = new Redis(url)
  base.on("error", () => {})
  const monitor = await base.monitor()
  const address = `127.0.0.1:${subject.client.stream.localPort}`
  let commands = 0
  monitor.on("monitor", (_time: string, _args: ReadonlyArray<string>, source: string) => {
    if (source === address) commands++
  })
  // Let MONITOR start before the sample.
  await new Promise((resolve) => setTimeout(resolve, 50))
  let left = sample
  const acquires = await subject.loop(subject.concurrent ? concurrency : 1, () => left-- <= 0)
  await new Promise((resolve) => setTimeout(resolve, 100))
  monitor.disconnect()
  base.disconnect()
  return commands / acquires
}

/** Redis's CPU time per EVALSHA over a sample of the subject's acquires, run alone after a RESETSTAT. */
const redisMicros = async (url: string, subject: Subject, sample: number, concurrency: number): Promise<number> => {
  const admin = new Redis(url)
  admin.on("error", () => {})
  try {
    await admin.config("RESETSTAT")
    let left = sample
    await subject.loop(subject.concurrent ? concurrency : 1, () => left-- <= 0)
    const info = await admin.info("commandstats")
    return Number(/cmdstat_evalsha:calls=\d+,usec=\d+,usec_per_call=([\d.]+)/.exec(info)?.[1] ?? Number.NaN)
  } finally {
    admin.disconnect()
  }
}

/**
 * Redis's CPU per call over a sample run alone after a RESETSTAT: every script's time (EVALSHA, and
 * EVAL should a script be reloaded) over the calls made, so a call that costs two scripts (a lease and
 * its record) or none (a refusal decided in process) shows it.
 */
const redisMicrosPerCall = async (
  url: string,
  subject: Subject,
  sample: number,
  concurrency: number
): Promise<number> => {
  const admin = new Redis(url)
  admin.on("error", () => {})
  try {
    await admin.config("RESETSTAT")
    let left = sample
    const calls = await subject.loop(subject.concurrent ? concurrency : 1, () => left-- <= 0)
    const info = await admin.info("commandstats")
    let usec = 0
    for (const match of info.matchAll(/cmdstat_(?:evalsha|eval):calls=\d+,usec=(\d+)/g)) usec += Number(match[1])
    return usec / Math.max(1, calls)
  } finally {
    admin.disconnect()
  }
}

/** An Effect that may fail (a refusal), looped as `effectLoop` loops an acquire. */
const exitLoop = (call: Effect.Effect<unknown, unknown>) => effectLoop(Effect.exit(call))

/**
 * The shared circuit breaker on the same server: a call in Closed (one round trip, its record, after
 * the call), a refusal in Open (none: decided from the cached shared state), a trial call in HalfOpen
 * (two: the lease before, the record after), and the two operations that run beside calls: a lease
 * renewal (a slow trial renews its lease every half lease) and a re-read of the shared state (Open,
 * ForcedOpen and Disabled re-read every 5 seconds, every breaker on a pub/sub hint or a reconnection),
 * the latter two through the store itself as the breaker calls it.
 */
const breakerSubjects = async (
  url: string,
  prefix: string,
  closers: Array<() => Promise<void>>
): Promise<Array<Subject>> => {
  const subjects: Array<Subject> = []
  const made = async (name: string, options: Omit<CircuitBreaker.Options, "name">) => {
    const redis = await client(url)
    const scope = await Effect.runPromise(Scope.make())
    closers.push(async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      redis.disconnect()
    })
    return Effect.runPromise(
      Effect.flatMap(
        Layer.buildWithScope(RedisStore.layer({ client: redis }, { prefix }), scope),
        (context) =>
          Effect.map(
            CircuitBreaker.make({ name, ...options }).pipe(Effect.provide(context), Scope.extend(scope)),
            (breaker) => ({ breaker, redis, store: Context.get(context, Store).circuitBreaker })
          )
      ).pipe(Effect.orDie)
    )
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
    subjects.push({ name, client: redis, concurrent, loop: exitLoop(CircuitBreaker.withCircuitBreaker(call, breaker)) })
  }
  {
    const { breaker, redis } = await made("open", { waitDurationInOpenState: "1 hour" })
    await Effect.runPromise(breaker.transitionToOpen)
    subjects.push({
      name: RedisBreakerCases.refusal,
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
    await Effect.runPromise(Effect.zipRight(breaker.transitionToOpen, breaker.transitionToHalfOpen))
    subjects.push({
      name: RedisBreakerCases.halfOpen,
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
      client: redis,
      concurrent: false,
      loop: exitLoop(store.renew("halfopen", settings, leaseId))
    })
    subjects.push({
      name: RedisBreakerCases.reread,
      client: redis,
      concurrent: false,
      loop: exitLoop(store.read("halfopen", settings))
    })
  }
  return subjects
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? Number.NaN

export const runRedis = async (config: RedisBenchConfig): Promise<RedisResult> => {
  const server = await findServer()
  if (server === undefined) {
    return { _tag: "Skipped", reason: "no Redis: REDIS_URL unset, no redis-server binary, nothing on 127.0.0.1:6379" }
  }
  const closers: Array<() => Promise<void>> = []
  try {
    const url = server.url
    const prefix = `bench${process.pid}-${Date.now()}`
    const subjects: Array<Subject> = []
    for (
      const [name, algorithm, concurrent] of [
        [RedisCases.sequential, "fixed-window", false],
        [RedisCases.concurrent, "fixed-window", true],
        [RedisCases.tokenBucket, "token-bucket", true],
        [RedisCases.slidingWindow, "sliding-window", true]
      ] as const
    ) {
      const redis = await client(url)
      const scope = await Effect.runPromise(Scope.make())
      const close = () => Effect.runPromise(Scope.close(scope, Exit.void))
      const limiter = await Effect.runPromise(
        Effect.flatMap(
          Layer.buildWithScope(RedisStore.layer({ client: redis }, { prefix }), scope),
          (store) =>
            RateLimiter.make({
              name: `${algorithm}-${concurrent}`,
              algorithm,
              limitForPeriod: 1_000_000_000,
              limitRefreshPeriod: "1 hour"
            }).pipe(Effect.provide(store), Scope.extend(scope))
        ).pipe(Effect.orDie)
      )
      closers.push(async () => {
        await close()
        redis.disconnect()
      })
      subjects.push({ name, client: redis, concurrent, loop: effectLoop(limiter.acquire()) })
    }
    for (
      const [name, concurrent] of [[RedisCases.flexibleSequential, false], [
        RedisCases.flexibleConcurrent,
        true
      ]] as const
    ) {
      const redis = await client(url)
      closers.push(async () => redis.disconnect())
      const limiter = new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `${prefix}-rlf-${concurrent}`,
        points: 1_000_000_000,
        duration: 3_600
      })
      subjects.push({ name, client: redis, concurrent, loop: promiseLoop(() => limiter.consume("bench")) })
    }
    // Warm-up: connections up, scripts loaded, JIT warm.
    for (const subject of subjects) await throughput(subject, Math.min(200, config.millis), config.concurrency)
    const rates = new Map<string, Array<number>>(subjects.map((s) => [s.name, []]))
    for (let round = 0; round < config.rounds; round++) {
      for (let i = 0; i < subjects.length; i++) {
        const subject = subjects[(i + round) % subjects.length]!
        rates.get(subject.name)!.push(await throughput(subject, config.millis, config.concurrency))
      }
    }
    const rows: Array<RedisRow> = []
    for (const subject of subjects) {
      rows.push({
        name: subject.name,
        acquiresPerSecond: median(rates.get(subject.name)!),
        roundTripsPerAcquire: await roundTrips(url, subject, config.sample, config.concurrency),
        redisMicrosPerAcquire: await redisMicros(url, subject, config.sample * 5, config.concurrency)
      })
    }
    // The shared breaker, after the limiters (so it takes nothing from their interleaved rounds).
    const breakers = await breakerSubjects(url, prefix, closers)
    for (const subject of breakers) await throughput(subject, Math.min(200, config.millis), config.concurrency)
    const breakerRates = new Map<string, Array<number>>(breakers.map((s) => [s.name, []]))
    for (let round = 0; round < config.rounds; round++) {
      for (let i = 0; i < breakers.length; i++) {
        const subject = breakers[(i + round) % breakers.length]!
        breakerRates.get(subject.name)!.push(await throughput(subject, config.millis, config.concurrency))
      }
    }
    const breakerRows: Array<RedisBreakerRow> = []
    for (const subject of breakers) {
      breakerRows.push({
        name: subject.name,
        callsPerSecond: median(breakerRates.get(subject.name)!),
        roundTripsPerCall: await roundTrips(url, subject, config.sample, config.concurrency),
        redisMicrosPerCall: await redisMicrosPerCall(url, subject, config.sample * 5, config.concurrency)
      })
    }
    return { _tag: "Measured", server: server.label, concurrency: config.concurrency, rows, breakerRows }
  } finally {
    for (const close of closers) await close()
    server.stop()
  }
}
