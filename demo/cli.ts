/**
 * Command-line flags of `npm start` and `npm run simulate`.
 */
import { parseArgs } from "node:util"

export interface Flags {
  readonly help: boolean
  readonly durationSeconds: number | undefined
  readonly rate: number | undefined
  readonly seed: number | undefined
  readonly dashboard: boolean
  readonly port: number
  readonly keepOpen: boolean
  readonly out: string | undefined
}

export const startHelp = `npm start -- [flags]

Reproduces a retry storm on real loopback HTTP, twice: clients -> my server -> a dependency that
fails (errors, then timeouts) and recovers. Unprotected, naive retries at both layers multiply the
load and keep the dependency overloaded after it recovered; protected (circuit breaker + rate limiter
+ retry budget + bulkhead), the load stays near what the clients offer. Prints a comparison table.

Flags:
  --duration <seconds>  length of each of the two runs (default 18; the whole command takes ~2.5x)
  --rate <n>            logical requests the clients start per second (default 20)
  --no-dashboard        do not serve the live dashboard
  --port <n>            the dashboard's port (default: any free port; the URL is printed)
  --keep-open           keep the dashboard up after the runs, until Ctrl-C
  --help                this text
`

export const simulateHelp = `npm run simulate -- [flags]

The same scenario in virtual time, with the real guards: ten simulated minutes in seconds, and the
same output for the same seed (a tuning lab: change a parameter in demo/scenario.ts, rerun, compare).
Prints the comparison table and writes a self-contained HTML report with the dashboard's charts.

Flags:
  --duration <seconds>  simulated length of each run (default 600)
  --rate <n>            logical requests per second (default 5; the cost grows with it)
  --seed <n>            seed of every random draw (default 7)
  --out <file>          the HTML report (default reports/simulation.html)
  --help                this text
`

const positive = (name: string, raw: string | undefined): number | undefined => {
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got "${raw}"`)
  return value
}

export const parse = (argv: ReadonlyArray<string>): Flags => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      help: { type: "boolean", default: false },
      duration: { type: "string" },
      rate: { type: "string" },
      seed: { type: "string" },
      "no-dashboard": { type: "boolean", default: false },
      port: { type: "string" },
      "keep-open": { type: "boolean", default: false },
      out: { type: "string" }
    },
    strict: true,
    allowPositionals: false
  })
  return {
    help: values.help === true,
    durationSeconds: positive("duration", values.duration),
    rate: positive("rate", values.rate),
    seed: values.seed === undefined ? undefined : Math.floor(Number(values.seed)),
    dashboard: values["no-dashboard"] !== true,
    port: values.port === undefined ? 0 : Math.floor(Number(values.port)),
    keepOpen: values["keep-open"] === true,
    out: values.out
  }
}
