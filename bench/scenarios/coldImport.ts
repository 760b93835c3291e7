/**
 * Cold import: how long `await import("breakwater")` takes in a fresh node process, next to
 * `await import("effect")` in another fresh process, alternating one of each per round so that load on
 * the machine falls on both alike. Each figure is the time of the import alone (`performance.now()`
 * around it, in the child), median over the rounds; the ratio is breakwater's median over effect's.
 * The import goes through the package's own exports map (a self-reference to `breakwater`), so it
 * loads the built `dist/` as an app would: without a build (`npm run build`) the section is skipped.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

export interface ColdImportConfig {
  readonly rounds: number
}

export interface ColdImportRow {
  readonly specifier: string
  readonly medianMillis: number
  readonly minMillis: number
  readonly maxMillis: number
}

export type ColdImportResult =
  | {
    readonly _tag: "Measured"
    readonly rounds: number
    readonly rows: ReadonlyArray<ColdImportRow>
    /** breakwater's median over effect's. */
    readonly ratio: number
  }
  | { readonly _tag: "Skipped"; readonly reason: string }

/** What is imported, in the order each round runs them. */
export const ColdImportSpecifiers = ["breakwater", "effect"] as const

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** One fresh process importing `specifier`: the import's own milliseconds, as the child measured them. */
const importOnce = (root: string, specifier: string): number => {
  const script = `const t = performance.now(); await import(${JSON.stringify(specifier)}); ` +
    `console.log(performance.now() - t)`
  return Number(execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: root, encoding: "utf8" }))
}

export const runColdImport = (config: ColdImportConfig, root = process.cwd()): ColdImportResult => {
  if (!fs.existsSync(path.join(root, "dist", "index.js"))) {
    return { _tag: "Skipped", reason: "no dist/ (run `npm run build`; `npm run bench` does)" }
  }
  const times = new Map<string, Array<number>>(ColdImportSpecifiers.map((s) => [s, []]))
  // One warm-up round: the first processes pay for the file system cache.
  for (const specifier of ColdImportSpecifiers) importOnce(root, specifier)
  for (let round = 0; round < config.rounds; round++) {
    const order = round % 2 === 0 ? ColdImportSpecifiers : [...ColdImportSpecifiers].reverse()
    for (const specifier of order) times.get(specifier)!.push(importOnce(root, specifier))
  }
  const rows = ColdImportSpecifiers.map((specifier) => {
    const all = times.get(specifier)!
    return { specifier, medianMillis: median(all), minMillis: Math.min(...all), maxMillis: Math.max(...all) }
  })
  return { _tag: "Measured", rounds: config.rounds, rows, ratio: rows[0]!.medianMillis / rows[1]!.medianMillis }
}
