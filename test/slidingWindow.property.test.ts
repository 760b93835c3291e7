import { FastCheck } from "#test-port"
/**
 * The sliding windows against a naive list of calls, without Effect: fast enough to run against every
 * mutant in `npm run mutate` (the breaker's model-based test is in CircuitBreaker.property.test.ts).
 */

import { describe, expect, it } from "vitest"
import { CountWindow, failureRate, slowCallRate, TimeWindow } from "../src/core/slidingWindow.js"

// ---- the pure windows against a naive list ------------------------------------------------------

type WindowCommand =
  | {
    readonly _tag: "Record"
    readonly step: number
    readonly duration: number
    readonly failed: boolean
    readonly slow: boolean
  }
  | { readonly _tag: "Roll"; readonly step: number }

const windowCommandArb: FastCheck.Arbitrary<WindowCommand> = FastCheck.oneof(
  {
    weight: 3,
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Record" as const),
      step: FastCheck.oneof(FastCheck.constantFrom(0, 1, 999, 1000), FastCheck.integer({ min: -300, max: 2500 })),
      duration: FastCheck.integer({ min: 0, max: 5000 }),
      failed: FastCheck.boolean(),
      slow: FastCheck.boolean()
    })
  },
  {
    weight: 1,
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Roll" as const),
      step: FastCheck.oneof(FastCheck.constantFrom(0, 1000), FastCheck.integer({ min: -300, max: 12_000 }))
    })
  }
)

interface NaiveCall {
  readonly bucket: number
  readonly duration: number
  readonly failed: boolean
  readonly slow: boolean
}

const totals = (calls: ReadonlyArray<NaiveCall>) => ({
  calls: calls.length,
  failed: calls.filter((c) => c.failed).length,
  slow: calls.filter((c) => c.slow).length,
  slowFailed: calls.filter((c) => c.slow && c.failed).length,
  totalDurationMillis: calls.reduce((sum, c) => sum + c.duration, 0)
})

const observed = (w: CountWindow | TimeWindow) => ({
  calls: w.calls,
  failed: w.failed,
  slow: w.slow,
  slowFailed: w.slowFailed,
  totalDurationMillis: w.totalDurationMillis
})

const expectedRates = (t: ReturnType<typeof totals>, minimum: number) => ({
  failureRate: t.calls < minimum || t.calls === 0 ? -1 : (t.failed * 100) / t.calls,
  slowCallRate: t.calls < minimum || t.calls === 0 ? -1 : (t.slow * 100) / t.calls
})

describe("sliding windows against a naive list", () => {
  it("CountWindow holds exactly the last `size` calls", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.integer({ min: 1, max: 8 }),
        FastCheck.integer({ min: 1, max: 10 }),
        FastCheck.array(windowCommandArb, { maxLength: 60 }),
        (size, minimum, commands) => {
          const window = new CountWindow(size, minimum)
          const all: Array<NaiveCall> = []
          let now = 1_700_000_000_000
          for (const command of commands) {
            now += command.step
            if (command._tag === "Record") {
              window.record(now, command.duration, command.failed, command.slow)
              all.push({ bucket: 0, duration: command.duration, failed: command.failed, slow: command.slow })
            } else {
              window.roll(now)
            }
            const expected = totals(all.slice(Math.max(0, all.length - size)))
            expect(observed(window)).toEqual(expected)
            expect({ failureRate: failureRate(window), slowCallRate: slowCallRate(window) })
              .toEqual(expectedRates(expected, Math.min(minimum, size)))
          }
        }
      ),
      { numRuns: 3000 }
    )
  })

  it("CountWindow packs outcomes across elements (windows up to 100) and, without durations, sums none", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.integer({ min: 1, max: 100 }),
        FastCheck.boolean(),
        FastCheck.array(windowCommandArb, { maxLength: 250 }),
        (size, keepDurations, commands) => {
          const window = new CountWindow(size, size, keepDurations)
          const all: Array<NaiveCall> = []
          let now = 1_700_000_000_000
          for (const command of commands) {
            now += command.step
            if (command._tag !== "Record") continue
            window.record(now, command.duration, command.failed, command.slow)
            all.push({ bucket: 0, duration: command.duration, failed: command.failed, slow: command.slow })
          }
          const expected = totals(all.slice(Math.max(0, all.length - size)))
          expect(observed(window)).toEqual(keepDurations ? expected : { ...expected, totalDurationMillis: 0 })
        }
      ),
      { numRuns: 500 }
    )
  })

  it("TimeWindow holds exactly the calls of the last `size` epoch seconds", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.integer({ min: 1, max: 6 }),
        FastCheck.integer({ min: 1, max: 10 }),
        FastCheck.integer({ min: 0, max: 2_000_000_000_000 }),
        FastCheck.array(windowCommandArb, { maxLength: 60 }),
        (size, minimum, start, commands) => {
          const window = new TimeWindow(size, minimum)
          const all: Array<NaiveCall> = []
          let now = start
          // The newest second seen: a clock that stands still or steps back records into its bucket.
          let head = Number.NEGATIVE_INFINITY
          for (const command of commands) {
            now = Math.max(0, now + command.step)
            head = Math.max(head, Math.floor(now / 1000))
            if (command._tag === "Record") {
              window.record(now, command.duration, command.failed, command.slow)
              all.push({ bucket: head, duration: command.duration, failed: command.failed, slow: command.slow })
            } else {
              window.roll(now)
            }
            const expected = totals(all.filter((c) => c.bucket > head - size))
            expect(observed(window)).toEqual(expected)
            expect({ failureRate: failureRate(window), slowCallRate: slowCallRate(window) })
              .toEqual(expectedRates(expected, minimum))
          }
        }
      ),
      { numRuns: 3000 }
    )
  })
})
