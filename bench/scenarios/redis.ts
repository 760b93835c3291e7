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
 * breakwater's rows are measured once per Effect target: its limiters and shared breakers are made by
 * bench/targets/redisCases.ts, compiled once against each Effect (bench/build.mjs), and measured here in
 * the same interleaved rounds (each target with its own key prefix), beside rate-limiter-flexible.
 *
 * The server: `REDIS_URL` when set; else a private `redis-server` on a free port (clean, unshared); else
 * 127.0.0.1:6379; else the section is skipped with a note.
 */
import { Redis } from "ioredis"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { RateLimiterRedis } from "rate-limiter-flexible"
import * as RedisStore from "../../src/redis/RedisStore.js"
import { freePort } from "../../test/helpers/freePort.js"
import { RedisCases } from "./redisNames.js"

export interface RedisRow {
  readonly name: string
  /** The Effect target of breakwater's rows; none for rate-limiter-flexible's. */
  readonly effect?: 3 | 4 | undefined
  readonly acquiresPerSecond: number
  readonly roundTripsPerAcquire: number
  /** Redis's own CPU time per acquire (`INFO commandstats`: EVALSHA's usec_per_call; both libraries run one script). */
  readonly redisMicrosPerAcquire: number
}

/** A shared circuit breaker's operation: calls per second, round trips and Redis CPU per call. */
export interface RedisBreakerRow {
  readonly name: string
  /** The Effect target the shared breaker was built for. */
  readonly effect: 3 | 4
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
 * run it: breakwater's callers are fibers of one Effect program (bench/targets/redisCases.ts),
 * rate-limiter-flexible's async loops.
 */
export interface Subject {
  readonly name: string
  /** The Effect target of breakwater's subjects; none for rate-limiter-flexible's. */
  readonly effect?: 3 | 4 | undefined
  readonly client: Redis
  readonly loop: (callers: number, until: () => boolean) => Promise<number>
  readonly concurrent: boolean
}

/** What a target's subjects are made with: the server, their keys' prefix, a client each, and their closing. */
export interface RedisSetup {
  readonly url: string
  readonly prefix: string
  /** A connected ioredis client with the store's options (the same for every subject). */
  readonly client: (url: string) => Promise<Redis>
  /** Where each subject leaves what closes it, run when the section ends. */
  readonly closers: Array<() => Promise<void>>
}

/**
 * One build of bench/targets/redisCases.ts: its RedisStore limiters (fixed-window sequential and
 * concurrent, token-bucket and sliding-window concurrent) and its shared circuit breaker's operations.
 */
export interface RedisTarget {
  readonly effect: 3 | 4
  readonly limiterSubjects: (setup: RedisSetup) => Promise<ReadonlyArray<Subject>>
  readonly breakerSubjects: (setup: RedisSetup) => Promise<ReadonlyArray<Subject>>
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

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? Number.NaN

/**
 * Warms `subjects` up, measures their throughput in `rounds` interleaved rounds (each round runs every
 * subject once, in a rotated order), then their round trips and Redis CPU one by one.
 */
const measureSubjects = async <Row>(
  subjects: ReadonlyArray<Subject>,
  config: RedisBenchConfig,
  row: (subject: Subject, perSecond: number) => Promise<Row>
): Promise<Array<Row>> => {
  // Warm-up: connections up, scripts loaded, JIT warm.
  for (const subject of subjects) await throughput(subject, Math.min(200, config.millis), config.concurrency)
  const rates = subjects.map(() => [] as Array<number>)
  for (let round = 0; round < config.rounds; round++) {
    for (let i = 0; i < subjects.length; i++) {
      const k = (i + round) % subjects.length
      rates[k]!.push(await throughput(subjects[k]!, config.millis, config.concurrency))
    }
  }
  const rows: Array<Row> = []
  for (let k = 0; k < subjects.length; k++) rows.push(await row(subjects[k]!, median(rates[k]!)))
  return rows
}

/**
 * The section on the server found: every target's limiters with rate-limiter-flexible's in one set of
 * interleaved rounds, then every target's shared breakers in another.
 */
export const runRedis = async (config: RedisBenchConfig, targets: ReadonlyArray<RedisTarget>): Promise<RedisResult> => {
  const server = await findServer()
  if (server === undefined) {
    return { _tag: "Skipped", reason: "no Redis: REDIS_URL unset, no redis-server binary, nothing on 127.0.0.1:6379" }
  }
  const closers: Array<() => Promise<void>> = []
  try {
    const url = server.url
    const prefix = `bench${process.pid}-${Date.now()}`
    // Each target's guards under keys of their own: the same names in two builds are two guards here.
    const setup = (effect: 3 | 4): RedisSetup => ({ url, prefix: `${prefix}-effect${effect}`, client, closers })
    const subjects: Array<Subject> = []
    for (const target of targets) subjects.push(...await target.limiterSubjects(setup(target.effect)))
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
    const rows = await measureSubjects(subjects, config, async (subject, acquiresPerSecond): Promise<RedisRow> => ({
      name: subject.name,
      effect: subject.effect,
      acquiresPerSecond,
      roundTripsPerAcquire: await roundTrips(url, subject, config.sample, config.concurrency),
      redisMicrosPerAcquire: await redisMicros(url, subject, config.sample * 5, config.concurrency)
    }))
    // The shared breakers, after the limiters (so they take nothing from the limiters' rounds).
    const breakers: Array<Subject> = []
    for (const target of targets) breakers.push(...await target.breakerSubjects(setup(target.effect)))
    const breakerRows = await measureSubjects(
      breakers,
      config,
      async (subject, callsPerSecond): Promise<RedisBreakerRow> => ({
        name: subject.name,
        effect: subject.effect ?? 3,
        callsPerSecond,
        roundTripsPerCall: await roundTrips(url, subject, config.sample, config.concurrency),
        redisMicrosPerCall: await redisMicrosPerCall(url, subject, config.sample * 5, config.concurrency)
      })
    )
    return { _tag: "Measured", server: server.label, concurrency: config.concurrency, rows, breakerRows }
  } finally {
    for (const close of closers) await close()
    server.stop()
  }
}
