/**
 * A small interleaved benchmark runner. Ratios between cases are what we report, so cases are measured
 * in alternating rounds (each round runs every case once, in a rotated order) and each case's figure is
 * its median over the rounds (see `statistic`): a burst of noise from the machine then hits every case
 * alike instead of whichever one happened to be running.
 *
 * A case may be synchronous (an Effect run with `runSyncExit`, a plain loop) or asynchronous (a Promise
 * peer awaited op by op, an Effect run with `runPromise`): the runner awaits whatever `run` returns.
 */
export interface Case {
  readonly name: string
  /** Runs `ops` operations (resolving when they are done, for an asynchronous case). */
  readonly run: (ops: number) => void | Promise<void>
  /** The report section the case belongs to (see report.ts); set by `inGroup`. */
  readonly group?: string
  /** The name of the baseline this case is compared with besides the floor (e.g. the bare `await`). */
  readonly baseline?: string
  /** The name of our case this peer competes with: the report says how many times faster ours is. */
  readonly ours?: string
  /** Calls per operation, when one operation is a batch (e.g. 10,000 concurrent fibers). Default 1. */
  readonly callsPerOp?: number
  /** Operations to start calibrating from (default 100; 1 for a heavy batch). */
  readonly startOps?: number
}

export interface Result {
  readonly case: Case
  readonly name: string
  /** Median nanoseconds (of CPU, see `now`) per call over the rounds (the fastest with BENCH_STAT=min). */
  readonly nsPerOp: number
  /** Spread of the rounds: (max - min) / median of the per-round figures. */
  readonly spread: number
}

export interface MeasureOptions {
  readonly rounds: number
  readonly sliceMs: number
  /** Called before each round (progress output). */
  readonly onRound?: (round: number) => void
}

const median = (values: Array<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * Nanoseconds of CPU the process spent (user + system, every thread: GC helpers included), not wall
 * time: on a shared, loaded machine a slice's wall time includes whatever time the process waited for
 * a core, which hits cases at random and swamped the ratios (spreads of several 100%). CPU time counts
 * only the work done. `BENCH_CLOCK=wall` measures wall time instead.
 */
const cpuNanos = (): number => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) * 1000
}
const wallNanos = (): number => Number(process.hrtime.bigint())
const now = process.env["BENCH_CLOCK"] === "wall" ? wallNanos : cpuNanos

/**
 * Each case's figure: its median round (`BENCH_STAT=min`: its fastest). Targets that compare two cases
 * use {@link measurePairs} instead, which does not depend on the machine staying alike between rounds.
 */
const statistic = process.env["BENCH_STAT"] === "min" ? "min" : "median"

const time = async (run: Case["run"], ops: number): Promise<number> => {
  const start = now()
  const pending = run(ops)
  if (pending !== undefined) await pending
  return Math.max(1, now() - start)
}

/** Gives every case (and every one of its ratios) the same section. */
export const inGroup = (group: string, cases: ReadonlyArray<Case>): Array<Case> => cases.map((c) => ({ ...c, group }))

/** Calibrates each case to about `sliceMs` per round, warms up, then measures `rounds` rounds. */
export const measure = async (cases: ReadonlyArray<Case>, options: MeasureOptions): Promise<Array<Result>> => {
  const slice = options.sliceMs * 1e6
  const opsFor: Array<number> = []
  for (const c of cases) {
    let ops = c.startOps ?? 100
    let ns = await time(c.run, ops)
    while (ns < slice / 4) {
      ops *= 2
      ns = await time(c.run, ops)
    }
    opsFor.push(Math.max(c.startOps ?? 1, Math.round(ops * slice / ns)))
  }
  const samples = cases.map(() => [] as Array<number>)
  for (let round = -2; round < options.rounds; round++) { // two warm-up rounds
    options.onRound?.(round)
    for (let k = 0; k < cases.length; k++) {
      const i = (k + Math.max(round, 0)) % cases.length
      const c = cases[i]!
      // No forced collection before a slice: `now` counts every thread's CPU, and after a full `gc()`
      // the slice was charged with work V8's helper threads then did (the floor wrapper measured 4.4 µs
      // a call that way against 1.0 µs without, unevenly across cases: 1.48x vs 1.26x for the breaker).
      // The rotating order spreads the collections a case leaves due over the others instead.
      const ns = await time(c.run, opsFor[i]!) / (opsFor[i]! * (c.callsPerOp ?? 1))
      if (round >= 0) samples[i]!.push(ns)
    }
  }
  return cases.map((c, i) => {
    const values = samples[i]!
    const mid = median(values)
    const figure = statistic === "median" ? mid : Math.min(...values)
    return { case: c, name: c.name, nsPerOp: figure, spread: (Math.max(...values) - Math.min(...values)) / mid }
  })
}

/** Two cases measured back to back: the median and the range of their per-pair ratios. */
export interface PairResult {
  readonly numerator: string
  readonly denominator: string
  /** Median over the pairs of (numerator's ns per call) / (denominator's ns per call). */
  readonly ratio: number
  readonly lowest: number
  readonly highest: number
  readonly pairs: number
}

const calibrate = async (c: Case, slice: number): Promise<number> => {
  let ops = c.startOps ?? 100
  let ns = await time(c.run, ops)
  while (ns < slice / 4) {
    ops *= 2
    ns = await time(c.run, ops)
  }
  return Math.max(c.startOps ?? 1, Math.round(ops * slice / ns))
}

/**
 * The ratio of two cases, for a target that compares them: `pairs` short slices of each, back to back
 * in alternating order, each pair giving one ratio. On a shared machine whose speed changes from one
 * second to the next (other agents' load, the host's), two cases measured seconds apart in the rounds
 * of {@link measure} can be 2-3x apart for reasons of their own; two measured within milliseconds of each
 * other see the same machine, so the median of the pairs' ratios holds still from run to run.
 */
export const measurePairs = async (
  pairs: ReadonlyArray<readonly [Case, Case]>,
  options: { readonly pairs: number; readonly sliceMs: number }
): Promise<Array<PairResult>> => {
  const slice = options.sliceMs * 1e6
  const results: Array<PairResult> = []
  for (const [a, b] of pairs) {
    const opsA = await calibrate(a, slice)
    const opsB = await calibrate(b, slice)
    const per = async (c: Case, ops: number) => {
      return await time(c.run, ops) / (ops * (c.callsPerOp ?? 1))
    }
    const ratios: Array<number> = []
    for (let i = -2; i < options.pairs; i++) { // two warm-up pairs
      let ratio: number
      if (i % 2 === 0) {
        const na = await per(a, opsA)
        ratio = na / await per(b, opsB)
      } else {
        const nb = await per(b, opsB)
        ratio = await per(a, opsA) / nb
      }
      if (i >= 0) ratios.push(ratio)
    }
    results.push({
      numerator: a.name,
      denominator: b.name,
      ratio: median(ratios),
      lowest: Math.min(...ratios),
      highest: Math.max(...ratios),
      pairs: ratios.length
    })
  }
  return results
}
