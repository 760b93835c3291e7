/**
 * Renders a {@link BenchReport} as BENCHMARKS.md: the machine, the main table (ns/op, ops/s, ratios to
 * the baselines of the same run), the scenarios, and the targets with where we stand.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Ours } from "./cases/peers/names.js"
import { Stack } from "./cases/stack.js"
import { TimeLimiterCases } from "./cases/timeLimiter.js"
import { Baseline } from "./floor.js"
import type { PairResult, Result } from "./harness.js"
import { type BenchReport, Groups } from "./run.js"
import { CONTENDED } from "./scenarios/contended.js"
import { httpSection, httpTargets } from "./scenarios/http.js"
import { redisClusterTable } from "./scenarios/redisCluster.js"
import { RedisBreakerCases, RedisCases } from "./scenarios/redisNames.js"
import { failureCases, onTarget, TargetCase } from "./targets/names.js"

const fixed = (n: number, digits = 2) => Number.isFinite(n) ? n.toFixed(digits) : "n/a"
const grouped = (n: number) => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a"
const isFailure = (name: string) => /failure|refus/.test(name)

export interface Target {
  readonly target: string
  readonly measured: string
  readonly met: boolean | undefined
}

const lookup = (report: BenchReport) => {
  const byName = new Map(report.results.map((r) => [r.name, r]))
  const ns = (name: string): number => byName.get(name)?.nsPerOp ?? Number.NaN
  return { byName, ns }
}

const floorFor = (report: BenchReport, r: Result) => {
  const { ns } = lookup(report)
  return ns(isFailure(r.name) ? Baseline.floorFailure : Baseline.floor)
}

/** The back-to-back pairs measured for a two-case target (numerator `a`, denominator `b`), if any. */
const pairOf = (report: BenchReport, a: string, b: string): PairResult | undefined =>
  report.pairs.find((p) => p.numerator === a && p.denominator === b)

/** How a pair result reads in the targets table. */
const pairRange = (p: PairResult): string => `${p.pairs} back-to-back pairs: ${fixed(p.lowest)}-${fixed(p.highest)}`

/** ` (pairs: range)` after a ratio measured in pairs, nothing otherwise. */
const pairNote = (p: PairResult | undefined): string => p === undefined ? "" : ` (${pairRange(p)})`

/**
 * What a guard's ratio to the floor is made of: `; = Ax for <part> × Bx for <the rest>`, `baseline` (the
 * floor plus a part any such guard needs, e.g. two clock reads) against the floor, and the guard against
 * `baseline` (pairs when measured).
 */
const madeOf = (
  report: BenchReport,
  ns: (name: string) => number,
  name: string,
  parts: { readonly baseline: string; readonly floor: string; readonly part: string; readonly rest: string }
): string => {
  const ratio = (a: string, b: string) => {
    const p = pairOf(report, a, b)
    return `${fixed(p?.ratio ?? ns(a) / ns(b))}x${pairNote(p)}`
  }
  if (!Number.isFinite(ns(parts.baseline))) return ""
  return `; = ${ratio(parts.baseline, parts.floor)} for ${parts.part} × ${
    ratio(name, parts.baseline)
  } for ${parts.rest}`
}

/** A timed breaker's parts: the two clock reads a timed call makes, and the breaker's own logic. */
const clockParts = (baseline: string, floor: string) =>
  ({ baseline, floor, part: "two clock reads", rest: "the breaker's own logic" }) as const

export const targets = (report: BenchReport): Array<Target> => {
  const { ns } = lookup(report)
  const floor = ns(Baseline.floor)
  const out: Array<Target> = []
  const atMost = (target: string, value: number, limit: number, what: string) =>
    out.push({
      target,
      measured: `${fixed(value)}x ${what}`,
      met: Number.isFinite(value) ? value <= limit : undefined
    })
  // Two-case targets: the back-to-back pairs' median ratio (range in brackets) when measured.
  const paired = (a: string, b: string) => pairOf(report, a, b)
  const pairedNote = (a: string, b: string) => pairNote(paired(a, b))
  const ratioOf = (a: string, b: string) => paired(a, b)?.ratio ?? ns(a) / ns(b)
  for (const name of [Ours.breakerCount, Ours.breakerTime]) {
    const value = ratioOf(name, Baseline.floor)
    out.push({
      target: `${name} <= 1.3x floor`,
      measured: `${fixed(value)}x floor${pairedNote(name, Baseline.floor)}${
        madeOf(report, ns, name, clockParts(Baseline.floorTimed, Baseline.floor))
      }`,
      met: Number.isFinite(value) ? value <= 1.3 : undefined
    })
  }
  for (const name of [Ours.fixedWindow, Ours.tokenBucket, Ours.slidingWindow]) {
    atMost(`${name} <= 1.3x floor`, ns(name) / floor, 1.3, "floor")
  }
  {
    const value = ratioOf(Ours.breakerOpen, Ours.breakerCount)
    out.push({
      target: "open-breaker refusal <= 1.0x closed success",
      measured: `${fixed(value)}x closed success${pairedNote(Ours.breakerOpen, Ours.breakerCount)}`,
      met: Number.isFinite(value) ? value <= 1 : undefined
    })
  }
  // A peer measured in back-to-back pairs with our case (pairTargets) is judged by the pairs' median.
  const faster = (peer: string, ours: string, factor: number) => {
    const p = paired(peer, ours)
    const by = p?.ratio ?? ns(peer) / ns(ours)
    out.push({
      target: `${factor === 1 ? "faster than" : `>= ${factor}x faster than`} ${peer}`,
      measured: `ours ${fixed(by)}x faster (${fixed(ns(ours), 1)} vs ${fixed(ns(peer), 1)} ns${
        p === undefined ? "" : `; ${pairRange(p)}`
      })${
        ours === Ours.bulkhead
          ? madeOf(report, ns, ours, {
            baseline: Baseline.floorMasked,
            floor: Baseline.floor,
            part: "the mask that makes returning the permit safe",
            rest: "the bulkhead's own logic"
          })
          : ""
      }`,
      met: Number.isFinite(by) ? by >= factor && by > 1 : undefined
    })
  }
  for (const r of report.results) {
    const ours = r.case.ours
    // The full stacks are compared both ways: from Effect, and cockatiel awaited natively (its own use).
    const stackPeer = r.name.startsWith("cockatiel retry(")
    if (ours === undefined || !(r.name.includes("(from Effect)") || stackPeer)) continue
    if (r.name.startsWith("cockatiel") || r.name.startsWith("opossum")) faster(r.name, ours, 1)
  }
  for (const r of report.results) {
    if (r.case.ours !== undefined && r.name.startsWith("Effect 4 CircuitBreaker") && r.name.endsWith("success")) {
      const by = ratioOf(r.name, r.case.ours)
      out.push({
        target: `>= 10x faster than ${r.name}`,
        measured: `ours ${fixed(by)}x faster${pairedNote(r.name, r.case.ours)}`,
        met: Number.isFinite(by) ? by >= 10 : undefined
      })
    }
  }
  for (const r of report.results) {
    if (r.case.ours !== undefined && r.name.startsWith("Effect 3 RateLimiter")) faster(r.name, r.case.ours, 5)
  }
  {
    const value = ratioOf(Stack.on, Baseline.floor)
    out.push({
      target: "full stack with metrics <= 2.5x floor",
      measured: `${fixed(value)}x floor${pairedNote(Stack.on, Baseline.floor)}${
        madeOf(report, ns, Stack.on, {
          baseline: Baseline.floorStack,
          floor: Baseline.floor,
          part: "four nested floors",
          rest: "the guards' own work (the bulkhead's mask, the breaker's and the limiter's clock reads, metrics)"
        })
      }`,
      met: Number.isFinite(value) ? value <= 2.5 : undefined
    })
  }
  {
    // No fiber per call: a call that finishes in time costs at most 3x the floor (pairs).
    const value = ratioOf(TimeLimiterCases.success, Baseline.floor)
    out.push({
      target: "time limiter, success <= 3x floor",
      measured: `${fixed(value)}x floor${pairedNote(TimeLimiterCases.success, Baseline.floor)}`,
      met: Number.isFinite(value) ? value <= 3 : undefined
    })
  }
  const idle = report.memory.keyed[0]?.bytesEach ?? Number.NaN
  const inUse = report.memory.keyed[4]?.bytesEach ?? Number.NaN
  out.push({
    target: "<= 1 KB heap per idle keyed breaker (count window 100), never called",
    measured: `${grouped(idle)} bytes`,
    met: Number.isFinite(idle) ? idle <= 1024 : undefined
  })
  out.push({
    target: "<= 1 KB heap per idle keyed breaker (count window 100), after it has been used",
    measured: `${grouped(inUse)} bytes`,
    met: Number.isFinite(inUse) ? inUse <= 1024 : undefined
  })
  const perKey = report.memory.keyed[7]?.bytesEach ?? Number.NaN
  out.push({
    target: "<= 1 KB heap per key of CircuitBreaker.keyed (count window 100), in use",
    measured: `${grouped(perKey)} bytes`,
    met: Number.isFinite(perKey) ? perKey <= 1024 : undefined
  })
  const volume = report.memory.keyed[3]?.bytesEach ?? Number.NaN
  out.push({
    target: "memory independent of call volume (heap added by 100 more calls per breaker)",
    measured: `${grouped(volume)} bytes per breaker`,
    met: Number.isFinite(volume) ? Math.abs(volume) <= 16 : undefined
  })
  return out
}

/** The version of the package installed in `dir` (relative to the repository, where the bench runs). */
const versionIn = (dir: string): string => {
  try {
    return String(JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).version)
  } catch {
    return "(not found)"
  }
}

const machine = (report: BenchReport) => {
  const cpus = os.cpus()
  return [
    `- Machine: ${cpus[0]?.model ?? "unknown CPU"}, ${cpus.length} cores, ${
      Math.round(os.totalmem() / 2 ** 30)
    } GiB RAM, ${os.type()} ${os.release()} (${os.arch()})`,
    `- Node ${process.version}; in the same process: effect ${versionIn("node_modules/effect")}, effect ${
      versionIn("node_modules/effect4")
    } (the alias \`effect4\`: Effect 4's own guards and our guards' Effect 4 build, section 12) and effect ${
      versionIn("targets/effect4/node_modules/effect")
    } (\`targets/effect4\`, with its @effect/platform-node ${
      versionIn("targets/effect4/node_modules/@effect/platform-node")
    }: the Effect 4 rows of sections 9 and 11)`,
    `- Date: ${report.startedAt.toISOString()}; run took ${fixed(report.seconds, 0)} s`,
    `- Configuration: ${report.config.rounds} interleaved rounds of ~${report.config.sliceMs} ms per case ` +
    `(BENCH_ROUNDS, BENCH_SLICE_MS); contended limiters ${report.config.contended.millis} ms each ` +
    `(BENCH_CONTENDED_MS); ${report.config.memory.keys.toLocaleString("en-US")} keyed breakers (BENCH_KEYS)`
  ].join("\n")
}

export const mainTable = (report: BenchReport): string => {
  const { ns } = lookup(report)
  const lines = [
    "| case | ns/op | ops/s | x floor | x own baseline | ours faster by | spread |",
    "|---|---:|---:|---:|---:|---:|---:|"
  ]
  let group: string | undefined
  for (const r of report.results) {
    if (r.case.group === Groups.targets) continue
    if (r.case.group !== group) {
      group = r.case.group
      lines.push(`| **${group}** | | | | | | |`)
    }
    const baseline = r.case.baseline
    const own = baseline === undefined ? "" : `${fixed(r.nsPerOp / ns(baseline))}x ${shortBaseline(baseline)}`
    const ours = r.case.ours === undefined ? "" : `${fixed(ns(r.name) / ns(r.case.ours))}x`
    lines.push(
      `| ${r.name} | ${fixed(r.nsPerOp, 1)} | ${grouped(1e9 / r.nsPerOp)} | ${
        fixed(r.nsPerOp / floorFor(report, r))
      } | ${own} | ${ours} | ${fixed(r.spread * 100, 0)}% |`
    )
  }
  return lines.join("\n")
}

const shortBaseline = (name: string) =>
  name === Baseline.await
    ? "await"
    : name === Baseline.floorAsync
    ? "floor (runPromise)"
    : name === Baseline.floorStack
    ? "floor x4"
    : name.startsWith("Effect 4: floor")
    ? "Effect 4 floor"
    : name.startsWith("Effect 4: bare")
    ? "Effect 4 succeed"
    : name.startsWith("floor wrapper, 10")
    ? "floor, same fibers"
    : name

const contendedTable = (report: BenchReport): string => {
  const lines = [
    "| limiter | grants/s | of the cap | min / median / max per fiber | starved fibers | Jain's index |",
    "|---|---:|---:|---:|---:|---:|"
  ]
  for (const r of report.contended) {
    lines.push(
      `| ${r.name} | ${grouped(r.grantsPerSecond)} | ${
        fixed(r.utilization * 100, 0)
      }% | ${r.minPerFiber} / ${r.medianPerFiber} / ${r.maxPerFiber} | ${r.starvedFibers} | ${fixed(r.jainIndex, 3)} |`
    )
  }
  return lines.join("\n")
}

const memoryTable = (rows: BenchReport["memory"]["keyed"]): string =>
  ["| what | count | heap bytes each |", "|---|---:|---:|"]
    .concat(rows.map((r) => `| ${r.name} | ${r.count.toLocaleString("en-US")} | ${grouped(r.bytesEach)} |`))
    .join("\n")

/** A row's Effect target: breakwater's rows carry one, rate-limiter-flexible's none. */
const effectCell = (effect: 3 | 4 | undefined) => effect === undefined ? "–" : String(effect)

const redisSection = (report: BenchReport): string => {
  const redis = report.redis
  if (redis._tag === "Skipped") return `Not measured in this run: ${redis.reason}.`
  const rows = redis.rows.map((r) =>
    `| ${effectCell(r.effect)} | ${r.name} | ${grouped(r.acquiresPerSecond)} | ${fixed(r.roundTripsPerAcquire)} | ${
      fixed(r.redisMicrosPerAcquire)
    } |`
  )
  return `Redis-backed acquire on ${redis.server}, breakwater's \`RedisStore\` against rate-limiter-flexible's
\`RateLimiterRedis\` on the same server in the same run, each through its own ioredis client with the
same options (the store's fail-fast options, auto-pipelining on). breakwater is measured on each Effect
target: the same source (\`bench/targets/redisCases.ts\`) compiled once against Effect 3 and once against
Effect 4 (the \`effect\` of \`targets/effect4\`), each build's guards under keys of their own, all in the
same interleaved rounds. Every acquire is granted (limits far above what a run can take): this is the cost
of a decision. Sequential: one caller awaiting each acquire; concurrent: ${redis.concurrency} callers at once
(fibers of one Effect program for breakwater, async loops for rate-limiter-flexible), whose commands
ioredis pipelines. Acquires per second are the median of ${report.config.redis.rounds} interleaved rounds of
${report.config.redis.millis} ms. Round trips per acquire are the commands the client sent, as Redis saw them
(\`MONITOR\`, which shows the commands a script runs as coming from "lua"), over
${report.config.redis.sample.toLocaleString("en-US")} acquires. Redis CPU per acquire is what the script costs Redis
itself (\`INFO commandstats\`, EVALSHA's \`usec_per_call\`, over ${
    (report.config.redis.sample * 5).toLocaleString("en-US")
  } acquires run alone): it bounds
what one Redis can serve, whoever the client. Redis's and Node's CPU are on the same loaded machine, so
the figures move from run to run.

| Effect | case | acquires/s | round trips per acquire | Redis µs per acquire |
|---|---|---:|---:|---:|
${rows.join("\n")}

The shared circuit breaker (\`CircuitBreaker.make\` with the same \`RedisStore\`), on each target, measured
the same way after the limiters: a successful call in Closed (its record, after the call, is the round
trip), a refusal in Open (decided from the locally cached shared state: no round trip), a trial call in
HalfOpen (a lease before the call and its record after), and the two operations that run beside calls,
through the store as the breaker calls them: a lease renewal (a slow trial renews its lease every half
lease) and a re-read of the shared state (Open, ForcedOpen and Disabled re-read it every 5 seconds;
every breaker re-reads on a pub/sub hint and on reconnecting). Redis µs per call is every script's time
(\`INFO commandstats\`) over the calls made.

| Effect | shared breaker | calls/s | round trips per call | Redis µs per call |
|---|---|---:|---:|---:|
${
    redis.breakerRows.map((r) =>
      `| ${r.effect} | ${r.name} | ${grouped(r.callsPerSecond)} | ${fixed(r.roundTripsPerCall)} | ${
        fixed(r.redisMicrosPerCall)
      } |`
    ).join("\n")
  }`
}

/**
 * The Redis targets, per Effect target: one round trip per acquire, throughput at least
 * rate-limiter-flexible's, and the round trips the shared breaker's documentation promises per call.
 * Effect 3's lines keep their names; the Effect 4 build's are prefixed as section 12's are.
 */
const redisTargets = (report: BenchReport): Array<Target> => {
  const redis = report.redis
  if (redis._tag === "Skipped") return []
  const flexible = (name: string) => redis.rows.find((r) => r.name === name)?.acquiresPerSecond ?? Number.NaN
  const out: Array<Target> = []
  for (const effect of [3, 4] as const) {
    const prefix = effect === 3 ? "Redis" : "Effect 4 build: Redis"
    const ours = redis.rows.filter((r) => r.effect === effect)
    const rate = (name: string) => ours.find((r) => r.name === name)?.acquiresPerSecond ?? Number.NaN
    out.push({
      target: `${prefix}: exactly 1 round trip per acquire`,
      measured: ours.length === 0 ? "not measured" : ours.map((r) => fixed(r.roundTripsPerAcquire)).join(" / "),
      met: ours.length === 0 ? undefined : ours.every((r) => r.roundTripsPerAcquire === 1)
    })
    for (
      const [mine, theirs] of [
        [RedisCases.sequential, RedisCases.flexibleSequential],
        [RedisCases.concurrent, RedisCases.flexibleConcurrent]
      ] as const
    ) {
      const by = rate(mine) / flexible(theirs)
      out.push({
        target: `${prefix}: ${mine} >= ${theirs}`,
        measured: `${fixed(by)}x (${grouped(rate(mine))} vs ${grouped(flexible(theirs))} acquires/s)`,
        met: Number.isFinite(by) ? by >= 1 : undefined
      })
    }
    for (
      const [name, expected] of [
        [RedisBreakerCases.closed, 1],
        [RedisBreakerCases.refusal, 0],
        [RedisBreakerCases.halfOpen, 2],
        [RedisBreakerCases.renew, 1],
        [RedisBreakerCases.reread, 1]
      ] as const
    ) {
      const row = redis.breakerRows.find((r) => r.name === name && r.effect === effect)
      out.push({
        target: `${prefix}: ${name}: ${expected} round trip${expected === 1 ? "" : "s"} per call`,
        measured: row === undefined
          ? "n/a"
          : `${fixed(row.roundTripsPerCall)} (${grouped(row.callsPerSecond)} calls/s, ${
            fixed(row.redisMicrosPerCall)
          } Redis µs per call)`,
        met: row === undefined ? undefined : Math.abs(row.roundTripsPerCall - expected) < 0.01
      })
    }
  }
  return out
}

/** Effect 4's own guards (effect/persistence) for our cases, where it has one. */
const effect4Own: Partial<Record<string, string>> = {
  [TargetCase.breakerCount]: "Effect 4 CircuitBreaker consecutive(5), success",
  [TargetCase.breakerFailure]: "Effect 4 CircuitBreaker rate, failure recorded",
  [TargetCase.breakerOpen]: "Effect 4 CircuitBreaker open, refusal",
  [TargetCase.fixedWindow]: "Effect 4 RateLimiter memory store, fixed-window",
  [TargetCase.tokenBucket]: "Effect 4 RateLimiter memory store, token-bucket"
}

/** Section 12: the same guards built for Effect 3 and for Effect 4, each to its own runtime's floor. */
export const bothTargetsSection = (report: BenchReport): string => {
  const { byName, ns } = lookup(report)
  if (!byName.has(onTarget(4, TargetCase.floor))) return "Not measured in this run (the target builds were not loaded)."
  const floorOf = (major: 3 | 4, name: string) =>
    ns(onTarget(major, failureCases.has(name) ? TargetCase.floorFailure : TargetCase.floor))
  const rows = Object.values(TargetCase).map((name) => {
    const [e3, e4] = [ns(onTarget(3, name)), ns(onTarget(4, name))]
    const own = effect4Own[name]
    return `| ${name} | ${fixed(e3, 1)} | ${fixed(e3 / floorOf(3, name))} | ${fixed(e4, 1)} | ${
      fixed(e4 / floorOf(4, name))
    } | ${fixed(e3 / e4)}x | ${own === undefined ? "" : `${fixed(ns(own), 1)} (${fixed(ns(own) / e4)}x)`} |`
  })
  return `breakwater is built from one source for each Effect (issue 17). Here both builds
(\`bench/targets/guardCases.ts\`, compiled once against Effect 3 and once against Effect 4 through the
\`effect4\` npm alias and the Effect 4 port) run in the same process and the same rounds as the main
table. Each build is divided by the floor wrapper run on its own runtime, so "x floor" is what the guard
adds; "Effect 4 faster by" compares the builds' times; the last column is Effect 4's own guard from
\`effect/persistence\` (memory store) for the same case, and how many times slower it is than ours on
Effect 4.

| case | Effect 3 ns/op | x Effect 3 floor | Effect 4 ns/op | x Effect 4 floor | Effect 4 faster by | Effect 4's own guard ns/op (x ours on 4) |
|---|---:|---:|---:|---:|---:|---:|
${rows.join("\n")}`
}

/** The per-guard targets for our Effect 4 build, and Effect 4's own breaker against it. */
const bothTargetsTargets = (report: BenchReport): Array<Target> => {
  const { byName, ns } = lookup(report)
  if (!byName.has(onTarget(4, TargetCase.floor))) return []
  const floor = ns(onTarget(4, TargetCase.floor))
  const out: Array<Target> = []
  const atMost = (name: string, limit: number) => {
    // Measured in back-to-back pairs against the Effect 4 floor where run.ts pairs them.
    const p = pairOf(report, onTarget(4, name), onTarget(4, TargetCase.floor))
    const value = p?.ratio ?? ns(onTarget(4, name)) / floor
    const timed = name === TargetCase.breakerCount || name === TargetCase.breakerTime
      ? madeOf(
        report,
        ns,
        onTarget(4, name),
        clockParts(onTarget(4, TargetCase.floorTimed), onTarget(4, TargetCase.floor))
      )
      : ""
    out.push({
      target: `Effect 4 build: ${name} <= ${limit}x Effect 4 floor`,
      measured: `${fixed(value)}x Effect 4 floor${pairNote(p)}${timed}`,
      met: Number.isFinite(value) ? value <= limit : undefined
    })
  }
  for (const name of [TargetCase.breakerCount, TargetCase.breakerTime]) atMost(name, 1.3)
  for (const name of [TargetCase.fixedWindow, TargetCase.tokenBucket, TargetCase.slidingWindow]) atMost(name, 1.3)
  atMost(TargetCase.timeLimiter, 3)
  {
    const [refusal, closed] = [onTarget(4, TargetCase.breakerOpen), onTarget(4, TargetCase.breakerCount)]
    const p = pairOf(report, refusal, closed)
    const value = p?.ratio ?? ns(refusal) / ns(closed)
    out.push({
      target: "Effect 4 build: open-breaker refusal <= 1.0x closed success",
      measured: `${fixed(value)}x closed success${pairNote(p)}`,
      met: Number.isFinite(value) ? value <= 1 : undefined
    })
  }
  {
    const [stack, floor4] = [onTarget(4, TargetCase.stackMetered), onTarget(4, TargetCase.floorStack)]
    const p = pairOf(report, stack, onTarget(4, TargetCase.floor))
    const value = p?.ratio ?? ns(stack) / floor
    out.push({
      target: "Effect 4 build: full stack with metrics <= 2.5x Effect 4 floor",
      measured: `${fixed(value)}x Effect 4 floor${pairNote(p)}${
        madeOf(report, ns, stack, {
          baseline: floor4,
          floor: onTarget(4, TargetCase.floor),
          part: "four nested floors",
          rest: "the guards' own work"
        })
      }`,
      met: Number.isFinite(value) ? value <= 2.5 : undefined
    })
  }
  const ours = onTarget(4, TargetCase.breakerCount)
  for (
    const peer of ["Effect 4 CircuitBreaker consecutive(5), success", "Effect 4 CircuitBreaker rate(100), success"]
  ) {
    const p = pairOf(report, peer, ours)
    const by = p?.ratio ?? ns(peer) / ns(ours)
    out.push({
      target: `Effect 4 build: >= 10x faster than ${peer}`,
      measured: `ours ${fixed(by)}x faster${pairNote(p)}`,
      met: Number.isFinite(by) ? by >= 10 : undefined
    })
  }
  return out
}

/** Section 10: a cold root import next to a cold import of effect itself. */
const coldImportSection = (report: BenchReport): string => {
  const cold = report.coldImport
  if (cold._tag === "Skipped") return `Skipped: ${cold.reason}.`
  const rows = cold.rows.map((r) =>
    `| \`await import("${r.specifier}")\` | ${fixed(r.medianMillis, 1)} | ${fixed(r.minMillis, 1)} | ${
      fixed(r.maxMillis, 1)
    } |`
  )
  return `A fresh node process per import, alternating breakwater and effect, ${cold.rounds} rounds; the time of the
\`import()\` alone, measured in the child (node startup excluded). The root entry loads the guards and
the core only (no @effect/platform, OpenTelemetry, ioredis or undici: those are behind their subpaths).

| import | median ms | fastest ms | slowest ms |
|---|---:|---:|---:|
${rows.join("\n")}

breakwater / effect: **${fixed(cold.ratio)}x**.`
}

/** The cold-import target: the root entry costs at most 1.2x what effect itself costs to import. */
const coldImportTargets = (report: BenchReport): Array<Target> => {
  const cold = report.coldImport
  if (cold._tag === "Skipped") return []
  const ms = (specifier: string) => cold.rows.find((r) => r.specifier === specifier)?.medianMillis ?? Number.NaN
  return [{
    target: "cold import(\"breakwater\") <= 1.2x cold import(\"effect\")",
    measured: `${fixed(cold.ratio)}x (${fixed(ms("breakwater"), 1)} ms vs ${fixed(ms("effect"), 1)} ms)`,
    met: Number.isFinite(cold.ratio) ? cold.ratio <= 1.2 : undefined
  }]
}

export const targetTable = (report: BenchReport): string =>
  ["| target | measured | met? |", "|---|---|---|"]
    .concat(
      [
        ...targets(report),
        ...redisTargets(report),
        ...coldImportTargets(report),
        ...httpTargets(report.http),
        ...bothTargetsTargets(report)
      ].map((t) => `| ${t.target} | ${t.measured} | ${t.met === undefined ? "n/a" : t.met ? "yes" : "**MISSED**"} |`)
    )
    .join("\n")

export const renderMarkdown = (report: BenchReport, notes: string): string => {
  const cap = CONTENDED.limit * 1000 / CONTENDED.periodMillis
  return `# Benchmarks

Generated by \`npm run bench\` (bench/index.ts). Do not edit by hand: rerun it.

${machine(report)}

## How to read this

Every case runs in the same process, in alternating rounds (each round runs every case once, in a
rotated order); a round is timed in the process's CPU time, not wall time, and each figure is the
case's median round (\`BENCH_STAT=min\` for the fastest, \`BENCH_CLOCK=wall\` for wall time). Absolute times vary from machine to machine and with load (this machine may be shared),
so **the ratios are what to compare**:

- **x floor**: to the floor wrapper (\`Effect.suspend\` + \`Effect.matchCauseEffect\` with synchronous
  bookkeeping, the least any guard can cost) of the same outcome (success, or failure for failing and
  refused calls), run synchronously.
- **x own baseline**: to the baseline that matches how the case runs: a bare \`await\` of an async
  function for Promise peers used natively, the floor run with \`runPromise\` for asynchronous Effect
  cases, Effect 4's own floor for Effect 4's guards, four nested floors for the four-guard stack.
- **ours faster by**: this peer's time over our equivalent case's (above 1 = ours is faster).
- **spread**: (slowest round - fastest round) / median round; a large spread means a noisy machine.

Promise peers (cockatiel, opossum) are measured natively (\`await policy.execute(fn)\`) and as an
Effect program uses them (\`Effect.tryPromise(() => policy.execute(fn))\`, run with \`runPromise\`); the
protected call is a plain value, the cheapest call they can run.

## Main table

${mainTable(report)}

## 5. Contended limiter

${report.config.contended.fibers.toLocaleString("en-US")} fibers each calling through one limiter in a
loop; permits refresh at ${CONTENDED.limit.toLocaleString("en-US")} per ${CONTENDED.periodMillis} ms (a
cap of ${cap.toLocaleString("en-US")} grants/s). Measured for ${report.config.contended.millis} ms after
${report.config.contended.warmupMillis} ms of warm-up. Jain's index is 1.0 when every fiber got the same
number of grants.

${contendedTable(report)}

## 8. Scale: memory

Heap used after \`global.gc()\` (run with \`node --expose-gc\`), per breaker. The first rows are a
\`Map<string, CircuitBreaker>\` of breakers from \`CircuitBreaker.make\` in one scope, so the figure
includes the key, the map entry, the breaker, its event hub and its scope finalizer; the last rows are
the keyed API, \`CircuitBreaker.keyed\`, per key (made on its first call: its table entry, its scope
and its breaker, the options decoded once for all keys).

${memoryTable(report.memory.keyed)}

Time-window breakers as the window grows:

${memoryTable(report.memory.timeWindows)}

Peers, for context (same method):

${memoryTable(report.memory.peers)}

## 9. Redis

${redisSection(report)}

## 9b. Redis Cluster against one server

${
    report.config.redisCluster === undefined
      ? "Not measured in this run: not configured."
      : redisClusterTable(report.redisCluster, report.config.redisCluster)
  }

## 10. Cold import

${coldImportSection(report)}

## 11. HTTP on loopback

${httpSection(report.http)}

## 12. Our guards on each Effect target

${bothTargetsSection(report)}

## Targets: where we stand

${targetTable(report)}

"Metrics on" means the four guards in a \`Registry\` watched by a \`Metrics\` collector that collects
after every timed slice (as a Prometheus scrape would), inside the timing. A refusal is a failed call:
the runtime's failure path (a \`Cause\`, a failed \`Exit\`) costs more than a success's, which is why the
floor is measured per outcome; the refusal target compares across outcomes and is the tightest one.
The "every event subscribed" case received ${report.stackEventsSeen.toLocaleString("en-US")} events during the run.

${notes}
`
}
