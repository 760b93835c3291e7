/**
 * Runs every benchmark in one process: the interleaved cases (each a ratio to baselines measured in the
 * same rounds), then the contended-limiter and memory scenarios. Used by index.ts (`npm run bench`) and,
 * on a tiny configuration, by test/bench.test.ts.
 */
import { cases as adaptive } from "./cases/adaptive.js"
import { cases as bulkhead } from "./cases/bulkhead.js"
import { cases as circuitBreaker } from "./cases/circuitBreaker.js"
import { cases as concurrency } from "./cases/concurrency.js"
import { cases as observability } from "./cases/observability.js"
import * as cockatiel from "./cases/peers/cockatiel.js"
import * as effect4 from "./cases/peers/effect4.js"
import * as effectRateLimiters from "./cases/peers/effectRateLimiters.js"
import * as opossum from "./cases/peers/opossum.js"
import { cases as rateLimiter } from "./cases/rateLimiter.js"
import { cases as retry } from "./cases/retry.js"
import { cases as stack, stackEventsSeen } from "./cases/stack.js"
import { cases as timeLimiter } from "./cases/timeLimiter.js"
import { baselines, floorBookkeeping, teardown } from "./floor.js"
import { type Case, inGroup, measure, type Result } from "./harness.js"
import { type ColdImportConfig, type ColdImportResult, runColdImport } from "./scenarios/coldImport.js"
import { type ContendedResult, runContended } from "./scenarios/contended.js"
import { type MemoryRow, runMemory } from "./scenarios/memory.js"
import { type RedisBenchConfig, type RedisResult, runRedis } from "./scenarios/redis.js"
import { type RedisClusterBenchConfig, type RedisClusterResult, runRedisCluster } from "./scenarios/redisCluster.js"

export const Groups = {
  baselines: "1. Baselines",
  breaker: "2. Closed breaker, successful call",
  failure: "3. Closed breaker failing call; open breaker refusing",
  limiter: "4. Rate limiter, permits available",
  bulkhead: "6. Bulkhead",
  stack: "7. Full stack Retry(CircuitBreaker(RateLimiter(Bulkhead(call))))",
  fibers: "8. Scale: 10,000 concurrent fibers through one breaker",
  other: "Other guards (retry, time limiter)"
} as const

export const allCases = (): ReadonlyArray<Case> => [
  ...inGroup(Groups.baselines, [...baselines, ...effect4.baselineCases]),
  ...inGroup(Groups.breaker, [
    ...circuitBreaker.slice(0, 2),
    ...cockatiel.breakerCases,
    ...opossum.breakerCases,
    ...effect4.breakerCases
  ]),
  ...inGroup(Groups.failure, [
    ...circuitBreaker.slice(2),
    ...cockatiel.failureCases,
    ...opossum.failureCases,
    ...effect4.failureCases
  ]),
  ...inGroup(Groups.limiter, [...rateLimiter, ...effectRateLimiters.rateLimiterCases, ...effect4.rateLimiterCases]),
  ...inGroup(Groups.bulkhead, [...bulkhead, ...cockatiel.bulkheadCases]),
  ...inGroup(Groups.stack, stack),
  ...inGroup(Groups.fibers, concurrency),
  ...inGroup(Groups.other, [...retry, ...timeLimiter, ...adaptive]),
  ...inGroup("9. Observability: metrics, events, traces, scrape", observability)
]

export interface BenchConfig {
  readonly rounds: number
  readonly sliceMs: number
  readonly contended: { readonly fibers: number; readonly warmupMillis: number; readonly millis: number }
  readonly memory: { readonly keys: number; readonly windows: ReadonlyArray<number>; readonly perWindow: number }
  readonly redis: RedisBenchConfig
  /** The Redis Cluster section (a private 6-node cluster); skipped when absent. */
  readonly redisCluster?: RedisClusterBenchConfig
  readonly coldImport: ColdImportConfig
  /** Progress output (stderr in `npm run bench`, silent in the test). */
  readonly log?: (line: string) => void
}

export interface BenchReport {
  readonly config: BenchConfig
  readonly startedAt: Date
  readonly seconds: number
  readonly results: ReadonlyArray<Result>
  readonly contended: ReadonlyArray<ContendedResult>
  readonly memory: {
    readonly keyed: ReadonlyArray<MemoryRow>
    readonly timeWindows: ReadonlyArray<MemoryRow>
    readonly peers: ReadonlyArray<MemoryRow>
  }
  /** Events received by the "metrics on" subscribers: proof they ran. */
  readonly stackEventsSeen: number
  readonly redis: RedisResult
  readonly redisCluster: RedisClusterResult
  readonly coldImport: ColdImportResult
}

export const runBench = async (config: BenchConfig): Promise<BenchReport> => {
  const log = config.log ?? (() => {})
  const startedAt = new Date()
  const start = performance.now()
  try {
    const cases = allCases()
    log(`measuring ${cases.length} cases, ${config.rounds} rounds of ${config.sliceMs} ms slices`)
    const results = await measure(cases, {
      rounds: config.rounds,
      sliceMs: config.sliceMs,
      onRound: (round) => log(round < 0 ? `warm-up round ${round + 3}/2` : `round ${round + 1}/${config.rounds}`)
    })
    log(`contended limiters: ${config.contended.fibers} fibers, ${config.contended.millis} ms each`)
    const contended = await runContended(config.contended)
    log(`memory: ${config.memory.keys} keyed breakers`)
    const memory = await runMemory(config.memory)
    log(`redis: ${config.redis.rounds} rounds of ${config.redis.millis} ms per case`)
    const redis = await runRedis(config.redis)
    log("redis cluster: a private 6-node cluster against a private server")
    const redisCluster: RedisClusterResult = config.redisCluster === undefined
      ? { _tag: "Skipped", reason: "not configured" }
      : await runRedisCluster(config.redisCluster)
    log(`cold import: ${config.coldImport.rounds} rounds of fresh node processes`)
    const coldImport = runColdImport(config.coldImport)
    if (floorBookkeeping() === Number.MIN_SAFE_INTEGER || effect4.floor4Bookkeeping() === Number.MIN_SAFE_INTEGER) {
      log("(unreachable: keeps the floors' bookkeeping live)")
    }
    return {
      config,
      startedAt,
      seconds: (performance.now() - start) / 1000,
      results,
      contended,
      memory,
      stackEventsSeen: stackEventsSeen(),
      redis,
      redisCluster,
      coldImport
    }
  } finally {
    await teardown()
  }
}
