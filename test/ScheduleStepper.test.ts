import { defectOf, failureOf, makeStepper, scheduleUnion, type UserSchedule } from "#port"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Option, Schedule } from "effect"

// The port's one redesigned primitive (Effect 3: initial + step + ScheduleDecision; Effect 4:
// Schedule.toStep + Pull): the same schedule must give the same absolute start times on both targets.
const starts = <In>(schedule: UserSchedule<In>, steps: ReadonlyArray<readonly [number, In]>) =>
  Effect.flatMap(makeStepper(schedule), (step) => Effect.forEach(steps, ([now, input]) => step(now, input)))

describe("makeStepper", () => {
  it.effect("spaced: each recurrence starts one spacing after the input's time", () =>
    Effect.gen(function*() {
      expect(yield* starts(Schedule.spaced("1 second"), [[0, 1], [5_000, 2], [5_500, 3]])).toEqual([
        1_000,
        6_000,
        6_500
      ])
    }))

  it.effect("exponential: the delay doubles from the base, counted from each step's now", () =>
    Effect.gen(function*() {
      expect(yield* starts(Schedule.exponential("100 millis"), [[0, 1], [100, 2], [300, 3]])).toEqual([100, 300, 700])
    }))

  it.effect("recurs(2): two recurrences, then Infinity (done) for good", () =>
    Effect.gen(function*() {
      expect(yield* starts(Schedule.recurs(2), [[10, 1], [20, 2], [30, 3], [40, 4]])).toEqual([
        10,
        20,
        Infinity,
        Infinity
      ])
    }))

  it.effect("a new stepper starts the schedule over", () =>
    Effect.gen(function*() {
      const schedule = Schedule.exponential("100 millis")
      expect(yield* starts(schedule, [[0, 1], [100, 2]])).toEqual([100, 300])
      expect(yield* starts(schedule, [[1_000, 1]])).toEqual([1_100])
    }))

  it.effect("scheduleUnion: the shorter of the two delays (exponential capped by spaced)", () =>
    Effect.gen(function*() {
      const capped = scheduleUnion(Schedule.exponential("100 millis"), Schedule.spaced("250 millis"))
      expect(yield* starts(capped, [[0, 1], [100, 2], [300, 3], [550, 4]])).toEqual([100, 300, 550, 800])
    }))

  it.effect("a schedule that fails (a bad Schedule.cron) is a defect, not a typed failure, on both", () =>
    Effect.gen(function*() {
      // Effect 3's cron dies when stepped; Effect 4's fails with a CronParseError, made a defect alike.
      const exit = yield* Effect.exit(starts(Schedule.cron("not a cron"), [[0, 1]]))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(Option.isNone(failureOf(exit.cause))).toBe(true)
        expect(String(Option.getOrUndefined(defectOf(exit.cause)))).toMatch(/segments/)
      }
    }))
})
