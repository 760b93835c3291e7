/**
 * Command-line flags of `npm start` and `npm run simulate`.
 */
import { type Either, tryEither } from "#port/demo"
import { Data } from "effect"

export interface Flags {
  readonly help: boolean
  readonly durationSeconds: number | undefined
  readonly rate: number | undefined
  readonly seed: number | undefined
  readonly dashboard: boolean
  readonly port: number
  readonly keepOpen: boolean
  readonly out: string | undefined
  /** simulate: run under Effect's `TestClock` instead of the discrete-event clock (slower). */
  readonly testClock: boolean
  /** The Effect major the command runs on (default 3): 4 re-runs it in a child process on Effect 4. */
  readonly effect: 3 | 4
}

/**
 * Upper bounds of the numeric flags, so that a typo (`--rate 1e9`) is refused at once rather than
 * exhausting the heap minutes later (every logical request is a fiber and a recorded latency).
 */
export const limits = {
  /**
   * Real loopback HTTP: in the unprotected run each logical request can become up to 9 HTTP calls
   * (3 attempts at each of two layers), and a Node server on one of this machine's 2 cores answers a
   * few thousand requests per second, so 1,000/s already saturates it (the default is 20).
   */
  startRate: 1_000,
  /** Virtual time: the cost is CPU and memory per simulated request; 200/s for an hour is 720,000. */
  simulateRate: 200,
  /** One hour, for both commands (real time for `start`, simulated for `simulate`). */
  durationSeconds: 3_600
} as const

export const startHelp = `npm start -- [flags]

Reproduces a retry storm on real loopback HTTP, twice: clients -> my server -> a dependency that
fails (errors, then timeouts) and recovers. Unprotected, naive retries at both layers multiply the
load and keep the dependency overloaded after it recovered; protected (circuit breaker + rate limiter
+ retry budget + bulkhead), the load stays near what the clients offer. Prints a comparison table.

Flags:
  --duration <seconds>  length of each of the two runs (default 18, at most 3600; the whole command
                        takes ~2.5x)
  --rate <n>            logical requests the clients start per second (default 20, at most 1000:
                        unprotected, each can become 9 HTTP calls, past what one core serves)
  --no-dashboard        do not serve the live dashboard
  --port <n>            the dashboard's port (default: any free port; the URL is printed)
  --keep-open           keep the dashboard up after the runs, until Ctrl-C
  --effect <3|4>        the Effect major to run on (default 3; 4 runs in a child process on
                        targets/effect4's Effect 4 and Node 22, installed by npm ci --prefix targets/effect4)
  --help                this text
`

export const simulateHelp = `npm run simulate -- [flags]

The same scenario in virtual time, with the real guards: ten simulated minutes in seconds, and the
same output for the same seed (a tuning lab: change a parameter in demo/scenario.ts, rerun, compare).
Prints the comparison table and writes a self-contained HTML report with the dashboard's charts.

Flags:
  --duration <seconds>  simulated length of each run (default 600, at most 3600)
  --rate <n>            logical requests per second (default 5, at most 200; the cost grows with it)
  --seed <n>            seed of every random draw (default 7)
  --out <file>          the HTML report (default reports/simulation.html)
  --test-clock          drive the run with Effect's TestClock instead of the discrete-event clock:
                        the same guards and figures, much slower (a cross-check; use short runs)
  --effect <3|4>        the Effect major to run on (default 3; 4 runs in a child process on
                        targets/effect4's Effect 4 and Node 22, installed by npm ci --prefix targets/effect4).
                        The seeded draws differ between majors (another generator), so do the figures
  --help                this text
`

/** A flag the command cannot use: names the flag and the value given, for a one-line message. */
export class CliError extends Data.TaggedError("CliError")<{
  readonly flag: string
  readonly value: string | undefined
  readonly reason: string
}> {
  override get message(): string {
    return this.value === undefined
      ? `${this.flag}: ${this.reason}`
      : `${this.flag} ${this.reason}, got "${this.value}"`
  }
}

export type Command = "start" | "simulate"

/** The flags each command reads, and whether each takes a value. */
const flagsOf: Record<Command, Readonly<Record<string, "boolean" | "value">>> = {
  start: {
    help: "boolean",
    duration: "value",
    rate: "value",
    "no-dashboard": "boolean",
    port: "value",
    "keep-open": "boolean",
    effect: "value"
  },
  simulate: {
    help: "boolean",
    duration: "value",
    rate: "value",
    seed: "value",
    out: "value",
    "test-clock": "boolean",
    effect: "value"
  }
}

const positive = (flag: string, raw: string | undefined, max: number): number | undefined => {
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (raw.trim() === "" || !Number.isFinite(value) || value <= 0) {
    throw new CliError({ flag, value: raw, reason: "must be a positive number" })
  }
  if (value > max) {
    throw new CliError({ flag, value: raw, reason: `must be at most ${max.toLocaleString("en-US")} (see --help)` })
  }
  return value
}

const integerIn = (flag: string, raw: string, min: number, max: number, what: string): number => {
  const value = Number(raw)
  if (!/^-?\d+$/.test(raw.trim()) || value < min || value > max) {
    throw new CliError({ flag, value: raw, reason: `must be ${what}` })
  }
  return value
}

/** `--effect`: 3 (the default) or 4. */
const effectMajor = (raw: string | undefined): 3 | 4 => {
  if (raw === undefined || raw === "3") return 3
  if (raw === "4") return 4
  throw new CliError({ flag: "--effect", value: raw, reason: "must be 3 or 4" })
}

/**
 * Reads `argv` (`--flag value` or `--flag=value`; a value may start with a dash, as a negative seed
 * does) and checks every value, refusing the flags `command` does not read.
 */
const read = (command: Command, argv: ReadonlyArray<string>): Map<string, string | true> => {
  const known = flagsOf[command]
  const values = new Map<string, string | true>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith("--")) throw new CliError({ flag: arg, value: undefined, reason: "is not a flag" })
    const equals = arg.indexOf("=")
    const name = arg.slice(2, equals < 0 ? undefined : equals)
    const kind = known[name]
    if (kind === undefined) {
      const other = command === "start" ? "simulate" : "start"
      const reason = flagsOf[other][name] === undefined
        ? "is not a flag of this command"
        : `is a flag of \`npm ${other === "start" ? "start" : "run simulate"}\`, not of this command`
      throw new CliError({ flag: `--${name}`, value: undefined, reason })
    }
    if (kind === "boolean") {
      if (equals >= 0) throw new CliError({ flag: `--${name}`, value: arg.slice(equals + 1), reason: "takes no value" })
      values.set(name, true)
      continue
    }
    const value = equals >= 0 ? arg.slice(equals + 1) : argv[++i]
    if (value === undefined) throw new CliError({ flag: `--${name}`, value: undefined, reason: "needs a value" })
    values.set(name, value)
  }
  return values
}

/** The flags of `command`, or the first wrong one. */
export const parse = (command: Command, argv: ReadonlyArray<string>): Either<Flags, CliError> =>
  tryEither(
    () => {
      const values = read(command, argv)
      const text = (name: string) => {
        const value = values.get(name)
        return typeof value === "string" ? value : undefined
      }
      const seed = text("seed")
      const effect = text("effect")
      const port = text("port")
      const dashboard = !values.has("no-dashboard")
      const keepOpen = values.has("keep-open")
      if (keepOpen && !dashboard) {
        throw new CliError({
          flag: "--keep-open",
          value: undefined,
          reason: "keeps the dashboard open: drop --no-dashboard"
        })
      }
      return {
        help: values.has("help"),
        durationSeconds: positive("--duration", text("duration"), limits.durationSeconds),
        rate: positive("--rate", text("rate"), command === "start" ? limits.startRate : limits.simulateRate),
        seed: seed === undefined
          ? undefined
          : integerIn("--seed", seed, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, "an integer"),
        dashboard,
        port: port === undefined ? 0 : integerIn("--port", port, 0, 65535, "an integer from 0 to 65535"),
        keepOpen,
        out: text("out"),
        testClock: values.has("test-clock"),
        effect: effectMajor(effect)
      }
    },
    (error) => error instanceof CliError ? error : new CliError({ flag: "", value: undefined, reason: String(error) })
  )
