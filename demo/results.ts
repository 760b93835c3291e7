/**
 * One run's figures, and the table that compares the runs. Pure: the live run and the simulation
 * print the same table.
 */
import type { GeneratorStats } from "./loadGenerator.js"
import type { Outcome } from "./myServer.js"
import type { Mode, Scenario } from "./scenario.js"

export interface RunResult {
  readonly mode: Mode
  readonly scenario: Scenario
  readonly clients: GeneratorStats
  readonly outcomes: Readonly<Record<Outcome, number>>
  /** Requests my server received (its clients' retries included). */
  readonly received: number
  readonly dependencyArrivals: number
  readonly overloadAfterRecovery: { readonly millis: number; readonly atEnd: boolean }
}

export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

export const amplification = (result: RunResult): number =>
  result.clients.offered === 0 ? 0 : result.dependencyArrivals / result.clients.offered

const count = (n: number) => n.toLocaleString("en-US")
const millis = (n: number) => n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`

const overload = (result: RunResult) => {
  const { atEnd, millis: ms } = result.overloadAfterRecovery
  if (ms === 0) return "0 s"
  return `${(ms / 1000).toFixed(1)} s${atEnd ? " (still at the end)" : ""}`
}

/** Rows of the comparison: a header, then one row per figure with a column per run. */
export const tableRows = (results: ReadonlyArray<RunResult>): Array<Array<string>> => {
  const row = (label: string, cell: (r: RunResult) => string) => [label, ...results.map(cell)]
  return [
    ["", ...results.map((r) => r.mode)],
    row("offered requests (clients)", (r) => count(r.clients.offered)),
    row("attempts at my server", (r) => count(r.received)),
    row("requests that reached the dependency", (r) => count(r.dependencyArrivals)),
    row("amplification (dependency / offered)", (r) => `${amplification(r).toFixed(2)}x`),
    row("refused fast: circuit open", (r) => count(r.outcomes.circuitOpen)),
    row("refused fast: rate limited", (r) => count(r.outcomes.rateLimited)),
    row("refused fast: pool exhausted", (r) => count(r.outcomes.poolExhausted)),
    row("refused fast: bulkhead full", (r) => count(r.outcomes.bulkheadFull)),
    row("failed: dependency error", (r) => count(r.outcomes.dependencyError)),
    row("failed: timeout", (r) => count(r.outcomes.timeout)),
    row(
      "clients served",
      (r) =>
        `${count(r.clients.succeeded)} (${
          (r.clients.offered === 0 ? 0 : (100 * r.clients.succeeded) / r.clients.offered).toFixed(1)
        } %)`
    ),
    row("latency p50 (clients, retries included)", (r) => millis(percentile(r.clients.latencies, 50))),
    row("latency p99", (r) => millis(percentile(r.clients.latencies, 99))),
    row("dependency overloaded after it recovered", overload)
  ]
}

/** The rows as aligned text. */
export const formatTable = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((r) => r[column]!.length)))
  const line = (r: ReadonlyArray<string>) =>
    r.map((cell, column) => column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)).join("   ")
  const rule = widths.map((w) => "-".repeat(w)).join("   ")
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join("\n")
}

/** The scenario in one sentence, for the report and the console. */
export const describeScenario = (s: Scenario): string =>
  `${s.rate} requests/s offered for ${s.durationMillis / 1000} s (${s.surgeFactor}x from ${s.surgeAt / 1000} s to ${
    s.stallAt / 1000
  } s); the dependency serves up to ${s.capacity}/s, stalls ${s.stallMillis} ms per answer from ${
    s.stallAt / 1000
  } s, answers 500 from ${s.errorsAt / 1000} s, hangs from ${s.timeoutsAt / 1000} s, recovers at ${
    s.recoversAt / 1000
  } s; clients try ${s.clientAttempts} times, ${s.clientBackoffMillis} ms apart.`
