/**
 * A small interleaved benchmark runner. Ratios between cases are what we report, so cases are measured
 * in alternating rounds (each round runs every case once, in a rotated order) and each case's figure is
 * its median over the rounds: a burst of noise from the machine then hits every case alike instead of
 * whichever one happened to be running.
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
  /** Median nanoseconds per call over the rounds. */
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
      const ns = await time(c.run, opsFor[i]!) / (opsFor[i]! * (c.callsPerOp ?? 1))
      if (round >= 0) samples[i]!.push(ns)
    }
  }
  return cases.map((c, i) => {
    const values = samples[i]!
    const mid = median(values)
    return { case: c, name: c.name, nsPerOp: mid, spread: (Math.max(...values) - Math.min(...values)) / mid }
  })
}
