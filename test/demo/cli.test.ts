/**
 * The demo's flags and table: pure functions.
 */
import { describe, expect, it } from "vitest"
import * as Cli from "../../demo/cli.js"
import { formatTable, percentile } from "../../demo/results.js"
import * as Scenario from "../../demo/scenario.js"

describe("demo command line", () => {
  it("reads the flags, with defaults", () => {
    expect(Cli.parse([])).toEqual({
      help: false,
      durationSeconds: undefined,
      rate: undefined,
      seed: undefined,
      dashboard: true,
      port: 0,
      keepOpen: false,
      out: undefined
    })
    expect(Cli.parse(["--duration", "12", "--rate", "50", "--no-dashboard", "--seed", "3"])).toMatchObject({
      durationSeconds: 12,
      rate: 50,
      dashboard: false,
      seed: 3
    })
    expect(Cli.parse(["--help"]).help).toBe(true)
  })

  it("refuses unknown flags and values that are not positive numbers", () => {
    expect(() => Cli.parse(["--bogus"])).toThrow(/bogus/)
    expect(() => Cli.parse(["--rate", "zero"])).toThrow(/--rate must be a positive number, got "zero"/)
    expect(() => Cli.parse(["--duration", "0"])).toThrow(/--duration/)
  })

  it("the help lists every flag", () => {
    for (const flag of ["--duration", "--rate", "--no-dashboard", "--help"]) expect(Cli.startHelp).toContain(flag)
    for (const flag of ["--duration", "--rate", "--seed", "--help"]) expect(Cli.simulateHelp).toContain(flag)
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
    expect([0, 2_000, 4_000, 5_500, 9_999].map((t) => Scenario.phaseAt(scenario, t))).toEqual([
      "healthy",
      "errors",
      "timeouts",
      "recovered",
      "recovered"
    ])
  })
})
