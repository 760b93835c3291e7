/**
 * `changeLimitForPeriod` takes effect at the next cycle, whatever happened before it in the current
 * one: a model-based property over random sequences of clock advances, acquisitions (plain and
 * weighted) and limit changes, compared step by step with a model whose every cycle keeps the limit
 * configured when it began.
 */
import { FastCheck as fc, itEffectProp, TestClock } from "#test-port"
import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import * as RateLimiter from "../src/guards/RateLimiter.js"

type Command =
  | { readonly _tag: "advance"; readonly millis: number }
  | { readonly _tag: "acquire"; readonly permits: number }
  | { readonly _tag: "change"; readonly limit: number }
  | { readonly _tag: "read" }

const command = (period: number): fc.Arbitrary<Command> =>
  fc.oneof(
    fc.record({ _tag: fc.constant("advance" as const), millis: fc.integer({ min: 0, max: period * 2 }) }),
    fc.record({ _tag: fc.constant("acquire" as const), permits: fc.integer({ min: 1, max: 3 }) }),
    fc.record({ _tag: fc.constant("change" as const), limit: fc.integer({ min: 1, max: 6 }) }),
    fc.record({ _tag: fc.constant("read" as const) })
  )

/** The model: cycles of `period` ms from 0; a cycle's limit is the one configured when it began. */
class Model {
  private cycle = 0
  private used = 0
  private cycleLimit: number
  constructor(private readonly period: number, private limit: number, private now = 0) {
    this.cycleLimit = limit
  }
  private roll() {
    const k = Math.floor(this.now / this.period)
    if (k !== this.cycle) {
      this.cycle = k
      this.used = 0
      this.cycleLimit = this.limit
    }
  }
  advance(millis: number) {
    // Boundaries crossed while idle begin with the limit configured at that time: the current one.
    this.now += millis
    this.roll()
  }
  acquire(permits: number): boolean {
    this.roll()
    if (this.used + permits > this.cycleLimit) return false
    this.used += permits
    return true
  }
  change(limit: number) {
    this.roll()
    this.limit = limit
  }
  available(): number {
    this.roll()
    return this.cycleLimit - this.used
  }
}

describe("RateLimiter.changeLimitForPeriod", () => {
  itEffectProp(
    "applies from the next cycle under random sequences of calls, changes and clock advances",
    [fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 50 }), fc.array(command(50), { maxLength: 80 })],
    ([initial, period, commands]) =>
      Effect.scoped(Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "change",
          limitForPeriod: initial,
          limitRefreshPeriod: period,
          timeoutDuration: 0
        })
        const model = new Model(period, initial)
        for (const [step, c] of commands.entries()) {
          const where = `step ${step}: ${JSON.stringify(c)}`
          switch (c._tag) {
            case "advance":
              yield* TestClock.adjust(c.millis)
              model.advance(c.millis)
              break
            case "acquire":
              expect(yield* limiter.tryAcquire(c.permits), where).toBe(model.acquire(c.permits))
              break
            case "change":
              yield* limiter.changeLimitForPeriod(c.limit)
              model.change(c.limit)
              break
            case "read":
              expect((yield* limiter.metrics).availablePermissions, where).toBe(model.available())
          }
        }
        expect((yield* limiter.metrics).availablePermissions).toBe(model.available())
      })),
    { fastCheck: { numRuns: 400 } }
  )
})
