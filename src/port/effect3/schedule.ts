/**
 * Stepping a `Schedule` by hand, Effect 3's way (`initial` + `step` + `ScheduleDecision`); the Effect 4
 * port does the same with `Schedule.toStep`. Guards use it where a schedule decides a wait that they
 * keep themselves (an open breaker's wait, a calendar period, a retry's delay) rather than sleep on.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"

/**
 * Feeds one input to the schedule at `now` (epoch millis) and returns when the next recurrence may
 * start, in epoch millis, or `Infinity` once the schedule is done. Holds the schedule's state: make a
 * new stepper to start over.
 */
export type Stepper<In> = (now: number, input: In) => Effect.Effect<number>

/** A fresh stepper for `schedule`. */
export const makeStepper = <In>(schedule: Schedule.Schedule<unknown, In>): Effect.Effect<Stepper<In>> =>
  Effect.sync(() => {
    let state: unknown = schedule.initial
    return (now: number, input: In) =>
      Effect.map(Effect.suspend(() => schedule.step(now, input, state)), ([next, _out, decision]) => {
        state = next
        return ScheduleDecision.isDone(decision) ? Infinity : ScheduleIntervals.start(decision.intervals)
      })
  })

/** Recurs while either schedule does, after the shorter of their delays: `Schedule.union` (4: `Schedule.min`). */
export const scheduleUnion = (
  self: Schedule.Schedule<unknown>,
  that: Schedule.Schedule<unknown>
): Schedule.Schedule<unknown> => Schedule.union(self, that)

/** Recurs while both schedules do, after the longer of their delays: 3 `Schedule.intersect`, 4 `Schedule.max`. */
export const scheduleIntersect = <In>(
  self: Schedule.Schedule<unknown, In>,
  that: Schedule.Schedule<unknown, In>
): Schedule.Schedule<unknown, In> => Schedule.intersect(self, that)

/**
 * `base`'s delays, each at least `atLeastMillis(input)`, and no further recurrence once `keep(input)` is
 * false: 3 `intersect` with `identity` + `check` + `modifyDelay`, 4 `while` + `modifyDelay` on the metadata's input.
 */
export const shapeByInput = (
  base: Schedule.Schedule<unknown, unknown>,
  keep: (input: unknown) => boolean,
  atLeastMillis: (input: unknown) => number
): Schedule.Schedule<unknown, unknown> =>
  Schedule.intersect(base, Schedule.identity<unknown>()).pipe(
    Schedule.check((input: unknown) => keep(input)),
    Schedule.modifyDelay(([, input], delay) => Duration.max(delay, Duration.millis(atLeastMillis(input))))
  )
