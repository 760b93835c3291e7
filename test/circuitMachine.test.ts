/**
 * The breaker's pure state machine on its own, without Effect: the branches the shell cannot observe
 * directly (what each state refuses, which results each state records, generations), fast enough to run
 * against every mutant in `npm run mutate`.
 */
import { FastCheck } from "#test-port"
import { describe, expect, it } from "vitest"
import {
  CircuitMachine,
  Failure,
  Ignored,
  type MachineConfig,
  Permitted,
  Refused,
  type StateName,
  Success,
  Trial
} from "../src/core/circuitMachine.js"

const config = (overrides: Partial<MachineConfig> = {}): MachineConfig => ({
  failureRateThreshold: 50,
  slowCallRateThreshold: 100,
  slowCallDurationThresholdMillis: 1000,
  slidingWindowType: "COUNT_BASED",
  slidingWindowSize: 4,
  minimumNumberOfCalls: 4,
  permittedNumberOfCallsInHalfOpenState: 2,
  waitInOpenMillis: () => 10_000,
  ...overrides
})

const machineIn = (state: StateName, overrides: Partial<MachineConfig> = {}) => {
  const machine = new CircuitMachine(config(overrides))
  if (state === "HalfOpen") machine.transitionTo("Open", 0)
  machine.transitionTo(state, 0)
  machine.drain()
  return machine
}

describe("CircuitMachine", () => {
  it("refuses according to its state", () => {
    expect(machineIn("Closed").refuses(0)).toBe(false)
    expect(machineIn("Disabled").refuses(0)).toBe(false)
    expect(machineIn("MetricsOnly").refuses(0)).toBe(false)
    expect(machineIn("ForcedOpen").refuses(0)).toBe(true)
    const open = machineIn("Open")
    expect(open.refuses(9_999)).toBe(true)
    expect(open.refuses(10_000)).toBe(false)
    const halfOpen = machineIn("HalfOpen")
    expect(halfOpen.refuses(0)).toBe(false)
    expect(halfOpen.acquire(0)).toBe(Trial)
    expect(halfOpen.acquire(0)).toBe(Trial)
    expect(halfOpen.refuses(0)).toBe(true)
  })

  it("admits, refuses and counts refusals per state", () => {
    expect(machineIn("Closed").acquire(0)).toBe(Permitted)
    expect(machineIn("Disabled").acquire(0)).toBe(Permitted)
    expect(machineIn("MetricsOnly").acquire(0)).toBe(Permitted)
    const forced = machineIn("ForcedOpen")
    expect(forced.acquire(0)).toBe(Refused)
    expect(forced.numberOfNotPermittedCalls).toBe(1)
    const open = machineIn("Open")
    expect(open.acquire(1)).toBe(Refused)
    expect(open.numberOfNotPermittedCalls).toBe(1)
    expect(open.acquire(10_000)).toBe(Trial)
    expect(open.state).toBe("HalfOpen")
    const halfOpen = machineIn("HalfOpen")
    halfOpen.acquire(0)
    halfOpen.acquire(0)
    expect(halfOpen.acquire(0)).toBe(Refused)
    expect(halfOpen.numberOfNotPermittedCalls).toBe(1)
  })

  it.each(["Disabled", "Open", "ForcedOpen"] as const)("records no result in %s", (state) => {
    const machine = machineIn(state)
    const before = machine.window.calls
    machine.onResult(machine.generation, 0, 1, Failure)
    machine.onResult(machine.generation, 0, 1, Success)
    expect(machine.window.calls).toBe(before)
    expect(machine.state).toBe(state)
  })

  it("gives a permit back for an ignored result only in HalfOpen", () => {
    const halfOpen = machineIn("HalfOpen")
    halfOpen.acquire(0)
    expect(halfOpen.halfOpenPermits).toBe(1)
    halfOpen.onResult(halfOpen.generation, 0, 1, Ignored)
    expect(halfOpen.halfOpenPermits).toBe(2)
    const closed = machineIn("Closed")
    closed.onResult(closed.generation, 0, 1, Ignored)
    expect(closed.halfOpenPermits).toBe(0)
    expect(closed.window.calls).toBe(0)
  })

  it("drops results from an ended generation, including one ended by a reset while Closed", () => {
    const machine = machineIn("Closed")
    const generation = machine.generation
    machine.reset(0)
    expect(machine.generation).toBe(generation + 1)
    machine.onResult(generation, 0, 1, Failure)
    expect(machine.window.calls).toBe(0)
    expect(machine.drain()).toEqual([]) // a reset of a Closed breaker is no transition
  })

  it("bumps the generation on every transition and publishes it", () => {
    const machine = machineIn("Closed")
    const generation = machine.generation
    machine.transitionTo("ForcedOpen", 0)
    expect(machine.generation).toBe(generation + 1)
    expect(machine.drain()).toEqual([
      { _tag: "StateTransition", from: "Closed", to: "ForcedOpen", generation: generation + 1, internal: false }
    ])
  })

  it("treats a transition to the current state as a no-op, except Open with an explicit end", () => {
    const open = machineIn("Open")
    const generation = open.generation
    expect(open.transitionTo("Open", 5)).toBe(true)
    expect(open.generation).toBe(generation)
    expect(open.drain()).toEqual([])
    expect(open.transitionTo("Open", 5, 7_000)).toBe(true)
    expect(open.generation).toBe(generation + 1)
    expect(open.openUntilMillis).toBe(7_000)
    expect(open.drain()).toEqual([
      { _tag: "StateTransition", from: "Open", to: "Open", generation: generation + 1, internal: true }
    ])
    const closed = machineIn("Closed")
    expect(closed.transitionTo("Closed", 0, 7_000)).toBe(true)
    expect(closed.drain()).toEqual([])
  })

  it("sets the end of Open only for the current Open generation", () => {
    const open = machineIn("Open", { waitInOpenMillis: undefined })
    expect(Number.isNaN(open.openUntilMillis)).toBe(true)
    open.setOpenUntil(open.generation - 1, 5)
    expect(Number.isNaN(open.openUntilMillis)).toBe(true)
    open.setOpenUntil(open.generation, 5)
    expect(open.openUntilMillis).toBe(5)
    const closed = machineIn("Closed")
    closed.setOpenUntil(closed.generation, 5)
    expect(Number.isNaN(closed.openUntilMillis)).toBe(true)
  })

  it("counts consecutive openings as Resilience4j does", () => {
    const machine = machineIn("Closed")
    machine.transitionTo("Open", 0)
    expect(machine.attempts).toBe(1)
    machine.transitionTo("ForcedOpen", 0)
    expect(machine.attempts).toBe(2)
    machine.transitionTo("HalfOpen", 0)
    expect(machine.attempts).toBe(2)
    machine.transitionTo("Open", 0)
    expect(machine.attempts).toBe(3)
    machine.transitionTo("Disabled", 0)
    expect(machine.attempts).toBe(0)
    machine.transitionTo("Open", 0)
    expect(machine.attempts).toBe(1)
    expect(machine.openUntilMillis).toBe(10_000)
  })

  it("reconfigures in place: a new minimum keeps the window, a new size replaces it, Open keeps its own", () => {
    const closed = machineIn("Closed")
    closed.onResult(closed.generation, 0, 1, Failure)
    closed.onResult(closed.generation, 0, 1, Failure)
    closed.reconfigure(config({ minimumNumberOfCalls: 2 }))
    expect(closed.window.calls).toBe(2)
    expect(closed.window.minimumNumberOfCalls).toBe(2)
    closed.reconfigure(config({ minimumNumberOfCalls: 2, slidingWindowSize: 8 }))
    expect(closed.window.calls).toBe(0)
    closed.reconfigure(config({ minimumNumberOfCalls: 2, slidingWindowSize: 8, slidingWindowType: "TIME_BASED" }))
    expect(closed.window.calls).toBe(0)
    const metricsOnly = machineIn("MetricsOnly")
    metricsOnly.onResult(metricsOnly.generation, 0, 1, Success)
    metricsOnly.reconfigure(config({ slidingWindowSize: 3 }))
    expect(metricsOnly.window.calls).toBe(0)
    const open = machineIn("Open")
    const window = open.window
    open.reconfigure(config({ slidingWindowSize: 9, minimumNumberOfCalls: 1 }))
    expect(open.window).toBe(window)
    expect(open.window.minimumNumberOfCalls).toBe(4)
  })

  it("checks the new thresholds on the next good call after a reconfiguration of a healthy window", () => {
    const machine = machineIn("Closed", { failureRateThreshold: 50 })
    for (const outcome of [Failure, Success, Success, Success] as const) {
      machine.onResult(machine.generation, 0, 1, outcome)
    }
    expect(machine.state).toBe("Closed") // 25% failed
    machine.onResult(machine.generation, 0, 1, Success) // replaces the failure: 0%
    machine.onResult(machine.generation, 0, 1, Failure) // 25% again
    machine.reconfigure(config({ failureRateThreshold: 20 }))
    machine.onResult(machine.generation, 0, 1, Success) // a good call: the rate (25%) is now over the threshold
    expect(machine.state).toBe("Open")
  })

  it("checks a good call in a time window: older good calls may have aged out", () => {
    const machine = machineIn("Closed", {
      slidingWindowType: "TIME_BASED",
      slidingWindowSize: 2,
      minimumNumberOfCalls: 2
    })
    for (const at of [0, 0, 0]) machine.onResult(machine.generation, at, 1, Success)
    machine.onResult(machine.generation, 1_000, 1, Failure) // 1 of 4 failed
    machine.onResult(machine.generation, 2_000, 1, Success) // second 0 is gone: 1 of 2 failed
    expect(machine.state).toBe("Open")
  })

  // The machine skips the threshold check for a good call in a healthy count window (it cannot raise a
  // rate): against a reference that checks after every recorded call, nothing may differ.
  it("decides like a machine that checks every recorded call (random results and reconfigurations)", () => {
    type Step =
      | { readonly _tag: "Result"; readonly failed: boolean; readonly duration: number; readonly at: number }
      | {
        readonly _tag: "Reconfigure"
        readonly threshold: number
        readonly slowThreshold: number
        readonly minimum: number
      }
      | { readonly _tag: "Close" }
    const step: FastCheck.Arbitrary<Step> = FastCheck.oneof(
      {
        weight: 8,
        arbitrary: FastCheck.record({
          _tag: FastCheck.constant("Result" as const),
          failed: FastCheck.boolean(),
          duration: FastCheck.constantFrom(1, 2_000),
          // Mostly within a window's few seconds, so that time windows age calls out one bucket at a time.
          at: FastCheck.oneof(FastCheck.constantFrom(0, 0, 1_000), FastCheck.integer({ min: 0, max: 2_500 }))
        })
      },
      {
        weight: 1,
        arbitrary: FastCheck.record({
          _tag: FastCheck.constant("Reconfigure" as const),
          threshold: FastCheck.integer({ min: 1, max: 100 }),
          slowThreshold: FastCheck.integer({ min: 1, max: 100 }),
          minimum: FastCheck.integer({ min: 1, max: 6 })
        })
      },
      { weight: 1, arbitrary: FastCheck.constant({ _tag: "Close" as const }) }
    )
    const settings = FastCheck.record({
      type: FastCheck.constantFrom("COUNT_BASED" as const, "TIME_BASED" as const),
      size: FastCheck.integer({ min: 1, max: 5 })
    })
    FastCheck.assert(
      FastCheck.property(settings, FastCheck.array(step, { maxLength: 80 }), ({ size, type }, steps) => {
        let current = config({ slidingWindowType: type, slidingWindowSize: size, minimumNumberOfCalls: 2 })
        const machine = new CircuitMachine(current)
        // The reference: the windows' own totals, thresholds checked after every recorded call.
        let expected: StateName = "Closed"
        let at = 0
        for (const s of steps) {
          if (s._tag === "Reconfigure") {
            current = {
              ...current,
              failureRateThreshold: s.threshold,
              slowCallRateThreshold: s.slowThreshold,
              minimumNumberOfCalls: s.minimum
            }
            machine.reconfigure(current)
          } else if (s._tag === "Close") {
            machine.transitionTo("Closed", at)
            expected = "Closed"
          } else {
            at += s.at
            machine.onResult(machine.generation, at, s.duration, s.failed ? Failure : Success)
            if (expected === "Closed") {
              const window = machine.window
              const defined = window.calls >= window.minimumNumberOfCalls && window.calls > 0
              const failures = defined ? (window.failed * 100) / window.calls : -1
              const slow = defined ? (window.slow * 100) / window.calls : -1
              if (failures >= current.failureRateThreshold || slow >= current.slowCallRateThreshold) expected = "Open"
            }
          }
          machine.drain()
          expect(machine.state).toBe(expected)
        }
      }),
      { numRuns: 3000 }
    )
  })
})
