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
import { Ours } from "./cases/peers/names.js"
import * as opossum from "./cases/peers/opossum.js"
import { cases as rateLimiter } from "./cases/rateLimiter.js"
import { cases as retry } from "./cases/retry.js"
import { cases as stack, Stack, stackEventsSeen } from "./cases/stack.js"
import { cases as timeLimiter, TimeLimiterCases } from "./cases/timeLimiter.js"
import { Baseline, baselines, floorBookkeeping, teardown } from "./floor.js"
import { type Case, inGroup, measure, measurePairs, type PairResult, type Result } from "./harness.js"
import { type ColdImportConfig, type ColdImportResult, runColdImport } from "./scenarios/coldImport.js"
import { type ContendedResult, runContended } from "./scenarios/contended.js"
import { type HttpBenchConfig, type HttpResult, type HttpTarget, runHttp } from "./scenarios/http.js"
import { type MemoryRow, runMemory } from "./scenarios/memory.js"
import { type RedisBenchConfig, type RedisResult, type RedisTarget, runRedis } from "./scenarios/redis.js"
import { type RedisClusterBenchConfig, type RedisClusterResult, runRedisCluster } from "./scenarios/redisCluster.js"
import { onTarget, TargetCase } from "./targets/names.js"

export const Groups = {
  baselines: "1. Baselines",
  breaker: "2. Closed breaker, successful call",
  failure: "3. Closed breaker failing call; open breaker refusing",
  limiter: "4. Rate limiter, permits available",
  bulkhead: "6. Bulkhead",
  stack: "7. Full stack Retry(CircuitBreaker(RateLimiter(Bulkhead(call))))",
  fibers: "8. Scale: 10,000 concurrent fibers through one breaker",
  other: "Other guards (retry, time limiter)",
  targets: "12. Our guards on each Effect target"
} as const

/**
 * `targets`: our guards built once per Effect target (bench/targets/guardCases.ts; index.ts loads both
 * builds), reported side by side in their own section rather than in the main table.
 */
export const allCases = (targets: ReadonlyArray<Case> = []): ReadonlyArray<Case> => [
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
  ...inGroup("9. Observability: metrics, events, traces, scrape", observability),
  ...inGroup(Groups.targets, targets)
]

/** The targets that compare two cases: [numerator, denominator], measured back to back. */
export const pairTargets: ReadonlyArray<readonly [string, string]> = [
  [Ours.breakerOpen, Ours.breakerCount],
  ["Effect 4 CircuitBreaker consecutive(5), success", Ours.breakerCount],
  ["Effect 4 CircuitBreaker rate(100), success", Ours.breakerCount],
  [Stack.on, Baseline.floor],
  // Like with like: our stack with metrics off and no subscribers against cockatiel's with no listeners.
  ["cockatiel retry(breaker(bulkhead)) (native await)", Stack.off],
  ["cockatiel retry(breaker(bulkhead)) (from Effect)", Stack.off],
  // The breaker's closed path against the floor, on each build: in the rounds, two cases timed seconds
  // apart came out 0.9x-1.55x apart from run to run on a quiet machine.
  [Ours.breakerCount, Baseline.floor],
  [Ours.breakerTime, Baseline.floor],
  [onTarget(4, TargetCase.breakerCount), onTarget(4, TargetCase.floor)],
  [onTarget(4, TargetCase.breakerTime), onTarget(4, TargetCase.floor)],
  // What the closed path's miss is made of: the floor with the breaker's two clock reads against the floor,
  // and the breaker against that timed floor (its own logic), on each build.
  [Baseline.floorTimed, Baseline.floor],
  [Ours.breakerCount, Baseline.floorTimed],
  [Ours.breakerTime, Baseline.floorTimed],
  [onTarget(4, TargetCase.floorTimed), onTarget(4, TargetCase.floor)],
  [onTarget(4, TargetCase.breakerCount), onTarget(4, TargetCase.floorTimed)],
  [onTarget(4, TargetCase.breakerTime), onTarget(4, TargetCase.floorTimed)],
  // What the bulkhead's cost is made of: the mask that makes returning its permit safe, and the rest.
  [Baseline.floorMasked, Baseline.floor],
  [Ours.bulkhead, Baseline.floorMasked],
  ["cockatiel bulkhead(25), uncontended (from Effect)", Ours.bulkhead],
  // The stack against four nested floors (its least), and those against one.
  [Baseline.floorStack, Baseline.floor],
  [Stack.on, Baseline.floorStack],
  // The same on the Effect 4 build, and its refusal against its closed success.
  [onTarget(4, TargetCase.stackMetered), onTarget(4, TargetCase.floor)],
  [onTarget(4, TargetCase.floorStack), onTarget(4, TargetCase.floor)],
  [onTarget(4, TargetCase.stackMetered), onTarget(4, TargetCase.floorStack)],
  [onTarget(4, TargetCase.breakerOpen), onTarget(4, TargetCase.breakerCount)],
  // The time limiter against the floor on each build (a rounds figure moved 2.1x-4.7x across runs).
  [TimeLimiterCases.success, Baseline.floor],
  [onTarget(4, TargetCase.timeLimiter), onTarget(4, TargetCase.floor)],
  // Effect 4's own breaker against ours built for Effect 4: the same runtime on both sides.
  ["Effect 4 CircuitBreaker consecutive(5), success", onTarget(4, TargetCase.breakerCount)],
  ["Effect 4 CircuitBreaker rate(100), success", onTarget(4, TargetCase.breakerCount)]
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
  /** The HTTP section (loopback client and servers); skipped when absent. */
  readonly http?: HttpBenchConfig
  /** Progress output (stderr in `npm run bench`, silent in the test). */
  readonly log?: (line: string) => void
  /** Pairs measured back to back for each two-case target (see `measurePairs`); default 21. */
  readonly pairs?: number | undefined
  /** Only the cases whose name or section matches (BENCH_ONLY): for working on a few cases. */
  readonly only?: RegExp | undefined
  /** Scenarios not run (BENCH_SKIP: any of contended, memory, redis, cold): reported as not measured. */
  readonly skip?: ReadonlySet<string> | undefined
  /** Our guards on each Effect target (see {@link allCases}); none when absent. */
  readonly targets?: ReadonlyArray<Case> | undefined
  /** The HTTP section's builds, one per Effect target (bench/targets/httpCases.ts); not measured when absent. */
  readonly httpTargets?: ReadonlyArray<HttpTarget> | undefined
  /** The Redis section's builds of our side (bench/targets/redisCases.ts); not measured when absent. */
  readonly redisTargets?: ReadonlyArray<RedisTarget> | undefined
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
  /** The targets comparing two cases, measured in back-to-back pairs. */
  readonly pairs: ReadonlyArray<PairResult>
  /** Events received by the "metrics on" subscribers: proof they ran. */
  readonly stackEventsSeen: number
  readonly redis: RedisResult
  readonly redisCluster: RedisClusterResult
  readonly coldImport: ColdImportResult
  readonly http: HttpResult
}

export const runBench = async (config: BenchConfig): Promise<BenchReport> => {
  const log = config.log ?? (() => {})
  const startedAt = new Date()
  const start = performance.now()
  try {
    const only = config.only
    const skip = config.skip ?? new Set<string>()
    const cases = only === undefined
      ? allCases(config.targets)
      : allCases(config.targets).filter((c) => only.test(c.name) || only.test(c.group ?? ""))
    log(`measuring ${cases.length} cases, ${config.rounds} rounds of ${config.sliceMs} ms slices`)
    const results = await measure(cases, {
      rounds: config.rounds,
      sliceMs: config.sliceMs,
      onRound: (round) => log(round < 0 ? `warm-up round ${round + 3}/2` : `round ${round + 1}/${config.rounds}`)
    })
    const byName = new Map(cases.map((c) => [c.name, c]))
    const targetPairs = pairTargets
      .map(([a, b]) => [byName.get(a), byName.get(b)] as const)
      .filter((pair): pair is readonly [Case, Case] => pair[0] !== undefined && pair[1] !== undefined)
    log(`paired targets: ${targetPairs.length} pairs of cases, ${config.pairs ?? 21} pairs each`)
    const pairs = await measurePairs(targetPairs, { pairs: config.pairs ?? 21, sliceMs: config.sliceMs })
    log(`contended limiters: ${config.contended.fibers} fibers, ${config.contended.millis} ms each`)
    const contended = skip.has("contended") ? [] : await runContended(config.contended)
    log(`memory: ${config.memory.keys} keyed breakers`)
    const memory = skip.has("memory") ? { keyed: [], timeWindows: [], peers: [] } : await runMemory(config.memory)
    log(`redis: ${config.redis.rounds} rounds of ${config.redis.millis} ms per case`)
    const redis: RedisResult = skip.has("redis")
      ? { _tag: "Skipped", reason: "skipped (BENCH_SKIP)" }
      : (config.redisTargets ?? []).length === 0
      ? { _tag: "Skipped", reason: "no target builds loaded" }
      : await runRedis(config.redis, config.redisTargets ?? [])
    log("redis cluster: a private 6-node cluster against a private server")
    const redisCluster: RedisClusterResult = config.redisCluster === undefined || skip.has("redis")
      ? { _tag: "Skipped", reason: config.redisCluster === undefined ? "not configured" : "skipped (BENCH_SKIP)" }
      : await runRedisCluster(config.redisCluster)
    log(`cold import: ${config.coldImport.rounds} rounds of fresh node processes`)
    const coldImport: ColdImportResult = skip.has("cold")
      ? { _tag: "Skipped", reason: "skipped (BENCH_SKIP)" }
      : runColdImport(config.coldImport)
    const http = skip.has("http")
      ? ({ _tag: "Skipped", reason: "skipped (BENCH_SKIP)" } as const)
      : await runHttpSection(config, log)
    if (floorBookkeeping() === Number.MIN_SAFE_INTEGER || effect4.floor4Bookkeeping() === Number.MIN_SAFE_INTEGER) {
      log("(unreachable: keeps the floors' bookkeeping live)")
    }
    return {
      config,
      startedAt,
      seconds: (performance.now() - start) / 1000,
      results,
      pairs,
      contended,
      memory,
      stackEventsSeen: stackEventsSeen(),
      redis,
      redisCluster,
      coldImport,
      http
    }
  } finally {
    await teardown()
  }
}

/** The HTTP section alone or within the run (BENCH_ONLY=http in index.ts), one target after the other. */
export const runHttpSection = async (
  config: Pick<BenchConfig, "http" | "httpTargets">,
  log: (line: string) => void
): Promise<HttpResult> => {
  if (config.http === undefined) return { _tag: "Skipped", reason: "not configured" }
  if ((config.httpTargets ?? []).length === 0) return { _tag: "Skipped", reason: "no target builds loaded" }
  return runHttp(config.httpTargets ?? [], config.http, log)
}
