/**
 * The demo's flags and table: pure functions. `Cli.parse` answers Effect's `Either` (3) or `Result` (4):
 * read through `#port/demo`, so this file runs on both targets.
 */
import { eitherFailure, eitherOrThrow } from "#port/demo"
import { describe, expect, it } from "vitest"
import * as Cli from "../../demo/cli.js"
import { formatTable, percentile } from "../../demo/results.js"
import * as Scenario from "../../demo/scenario.js"

const flags = (command: Cli.Command, argv: ReadonlyArray<string>) => eitherOrThrow(Cli.parse(command, argv))

/** The message of the error `argv` gets, checking that it names `flag` and (when given) the value. */
const refusal = (command: Cli.Command, argv: ReadonlyArray<string>, flag: string, value?: string) => {
  const error = eitherFailure(Cli.parse(command, argv))
  if (error === undefined) throw new Error(`${argv.join(" ")} was accepted`)
  expect(error._tag).toBe("CliError")
  expect(error.flag).toBe(flag)
  expect(error.value).toBe(value)
  return error.message
}

describe("demo command line", () => {
  it("reads the flags, with defaults", () => {
    const defaults = {
      help: false,
      durationSeconds: undefined,
      rate: undefined,
      seed: undefined,
      dashboard: true,
      port: 0,
      keepOpen: false,
      out: undefined,
      testClock: false,
      effect: 3
    }
    expect(flags("start", [])).toEqual(defaults)
    expect(flags("simulate", [])).toEqual(defaults)
    expect(flags("start", ["--duration", "12", "--rate=50", "--no-dashboard"])).toMatchObject({
      durationSeconds: 12,
      rate: 50,
      dashboard: false
    })
    expect(flags("start", ["--port", "0", "--keep-open"])).toMatchObject({ port: 0, keepOpen: true })
    expect(flags("start", ["--port", "65535"]).port).toBe(65535)
    expect(flags("simulate", ["--seed", "3", "--out", "r.html", "--test-clock"])).toMatchObject({
      seed: 3,
      out: "r.html",
      testClock: true
    })
    expect(flags("simulate", ["--help"]).help).toBe(true)
  })

  it("a seed is any integer, negative ones included, with or without =", () => {
    expect(flags("simulate", ["--seed", "-3"]).seed).toBe(-3)
    expect(flags("simulate", ["--seed=-3"]).seed).toBe(-3)
    expect(flags("simulate", ["--seed", "0"]).seed).toBe(0)
    expect(refusal("simulate", ["--seed", "abc"], "--seed", "abc")).toBe("--seed must be an integer, got \"abc\"")
    expect(refusal("simulate", ["--seed", "1.9"], "--seed", "1.9")).toContain("must be an integer")
    expect(refusal("simulate", ["--seed", ""], "--seed", "")).toContain("must be an integer")
    expect(refusal("simulate", ["--seed"], "--seed")).toBe("--seed: needs a value")
  })

  it("--effect picks the Effect major, 3 by default; any other value is refused, naming the flag and value", () => {
    for (const command of ["start", "simulate"] as const) {
      expect(flags(command, []).effect).toBe(3)
      expect(flags(command, ["--effect", "3"]).effect).toBe(3)
      expect(flags(command, ["--effect", "4"]).effect).toBe(4)
      expect(flags(command, ["--effect=4", "--duration", "6"])).toMatchObject({ effect: 4, durationSeconds: 6 })
      expect(refusal(command, ["--effect", "5"], "--effect", "5")).toBe("--effect must be 3 or 4, got \"5\"")
      expect(refusal(command, ["--effect", "4.1"], "--effect", "4.1")).toContain("must be 3 or 4")
      expect(refusal(command, ["--effect", "v4"], "--effect", "v4")).toContain("must be 3 or 4")
      expect(refusal(command, ["--effect=", "--help"], "--effect", "")).toContain("must be 3 or 4")
      expect(refusal(command, ["--effect"], "--effect")).toBe("--effect: needs a value")
    }
  })

  it("a port is an integer from 0 to 65535, checked before anything runs", () => {
    expect(refusal("start", ["--port", "abc"], "--port", "abc")).toBe(
      "--port must be an integer from 0 to 65535, got \"abc\""
    )
    expect(refusal("start", ["--port", "99999"], "--port", "99999")).toContain("0 to 65535")
    expect(refusal("start", ["--port", "-1"], "--port", "-1")).toContain("0 to 65535")
    expect(refusal("start", ["--port", "80.5"], "--port", "80.5")).toContain("0 to 65535")
  })

  it("refuses unknown flags, the other command's flags, positionals and values that are not positive numbers", () => {
    expect(refusal("start", ["--bogus"], "--bogus")).toBe("--bogus: is not a flag of this command")
    expect(refusal("start", ["--seed", "3"], "--seed")).toContain("is a flag of `npm run simulate`")
    expect(refusal("start", ["--out", "x"], "--out")).toContain("`npm run simulate`")
    expect(refusal("simulate", ["--port", "80"], "--port")).toContain("is a flag of `npm start`")
    expect(refusal("simulate", ["--keep-open"], "--keep-open")).toContain("`npm start`")
    expect(refusal("simulate", ["fast"], "fast")).toContain("is not a flag")
    expect(refusal("start", ["--help=yes"], "--help", "yes")).toContain("takes no value")
    expect(refusal("start", ["--keep-open", "--no-dashboard"], "--keep-open")).toContain("drop --no-dashboard")
    expect(refusal("start", ["--rate", "zero"], "--rate", "zero")).toBe(
      "--rate must be a positive number, got \"zero\""
    )
    expect(refusal("simulate", ["--duration", "0"], "--duration", "0")).toContain("positive")
    expect(refusal("simulate", ["--duration", "Infinity"], "--duration", "Infinity")).toContain("positive")
  })

  it("refuses a rate or duration past its bound (--rate 1e9 used to die of heap exhaustion after minutes)", () => {
    expect(refusal("start", ["--rate", "1e9"], "--rate", "1e9")).toBe(
      "--rate must be at most 1,000 (see --help), got \"1e9\""
    )
    expect(refusal("start", ["--rate", "1000.5"], "--rate", "1000.5")).toContain("at most 1,000")
    expect(flags("start", ["--rate", "1000"]).rate).toBe(1000)
    expect(refusal("simulate", ["--rate=201"], "--rate", "201")).toContain("at most 200")
    expect(flags("simulate", ["--rate", "200"]).rate).toBe(200)
    for (const command of ["start", "simulate"] as const) {
      expect(refusal(command, ["--duration", "3601"], "--duration", "3601")).toContain("at most 3,600")
      expect(flags(command, ["--duration", "3600"]).durationSeconds).toBe(3600)
    }
    // The bounds are stated in --help.
    expect(Cli.startHelp).toContain("at most 1000")
    expect(Cli.startHelp).toContain("at most 3600")
    expect(Cli.simulateHelp).toContain("at most 200")
    expect(Cli.simulateHelp).toContain("at most 3600")
    expect(Cli.limits).toEqual({ startRate: 1_000, simulateRate: 200, durationSeconds: 3_600 })
  })

  it("the help lists every flag of its command", () => {
    for (const flag of ["--duration", "--rate", "--no-dashboard", "--port", "--keep-open", "--effect", "--help"]) {
      expect(Cli.startHelp).toContain(flag)
    }
    for (const flag of ["--duration", "--rate", "--seed", "--out", "--test-clock", "--effect", "--help"]) {
      expect(Cli.simulateHelp).toContain(flag)
    }
    // The default Effect is stated.
    expect(Cli.startHelp).toContain("--effect <3|4>        the Effect major to run on (default 3")
    expect(Cli.simulateHelp).toContain("--effect <3|4>        the Effect major to run on (default 3")
  })
})

describe("demo figures", () => {
  it("percentiles by nearest rank, 0 without values", () => {
    expect(percentile([], 50)).toBe(0)
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3)
    expect(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 99)).toBe(99)
  })

  it("the table aligns its columns", () => {
    const text = formatTable([["", "a"], ["long label", "1"], ["x", "22"]])
    expect(text.split("\n")).toEqual(["              a", "----------   --", "long label    1", "x            22"])
  })

  it("the phases follow the scenario's schedule", () => {
    const scenario = Scenario.make({ durationMillis: 10_000 })
    expect([0, 2_000, 3_000, 5_000, 6_000, 9_999].map((t) => Scenario.phaseAt(scenario, t))).toEqual([
      "healthy",
      "surge",
      "stall",
      "errors",
      "timeouts",
      "recovered"
    ])
    expect([0, 2_000, 3_000].map((t) => Scenario.rateAt(scenario, t))).toEqual([20, 50, 20])
  })
})
