/**
 * A small interleaved benchmark runner. Ratios between cases are what we report, so cases are measured
 * in alternating rounds (each round runs every case once, in a rotated order) and each case's figure is
 * its median over the rounds: a burst of noise from the machine then hits every case alike instead of
 * whichever one happened to be running.
 */
export interface Case {
  readonly name: string
  /** Runs `ops` operations. */
  readonly run: (ops: number) => void
}

export interface Result {
  readonly name: string
  readonly nsPerOp: number
}

const median = (values: Array<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const time = (run: (ops: number) => void, ops: number): number => {
  const start = process.hrtime.bigint()
  run(ops)
  return Number(process.hrtime.bigint() - start)
}

/** Calibrates each case to about `sliceMs` per round, warms up, then measures `rounds` rounds. */
export const measure = (cases: ReadonlyArray<Case>, options: { rounds: number; sliceMs: number }): Array<Result> => {
  const opsFor = cases.map((c) => {
    let ops = 100
    while (time(c.run, ops) < options.sliceMs * 1e6 / 4) ops *= 2
    return ops * 4
  })
  const samples = cases.map(() => [] as Array<number>)
  for (let round = -2; round < options.rounds; round++) { // two warm-up rounds
    for (let k = 0; k < cases.length; k++) {
      const i = (k + Math.max(round, 0)) % cases.length
      const ns = time(cases[i]!.run, opsFor[i]!) / opsFor[i]!
      if (round >= 0) samples[i]!.push(ns)
    }
  }
  return cases.map((c, i) => ({ name: c.name, nsPerOp: median(samples[i]!) }))
}
