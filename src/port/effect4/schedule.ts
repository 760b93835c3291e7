/**
 * Stepping a `Schedule` by hand, Effect 4's way (`Schedule.toStep`: the state lives in the step's
 * closure, the delay is relative, and "done" is a `Cause.Done` failure); see `../effect3/schedule.ts`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"

/**
 * Feeds one input to the schedule at `now` (epoch millis) and returns when the next recurrence may
 * start, in epoch millis, or `Infinity` once the schedule is done. Holds the schedule's state: make a
 * new stepper to start over.
 */
export type Stepper<In> = (now: number, input: In) => Effect.Effect<number>

/** A fresh stepper for `schedule`. */
export const makeStepper = <In>(schedule: Schedule.Schedule<unknown, In>): Effect.Effect<Stepper<In>> =>
  Effect.map(Schedule.toStep(schedule), (step) => (now: number, input: In) =>
    Pull.matchEffect(step(now, input), {
      onSuccess: ([, delay]) => Effect.succeed(now + Duration.toMillis(delay)),
      onFailure: Effect.failCause,
      onDone: () => Effect.succeed(Infinity)
    }))

/** Recurs while either schedule does, after the shorter of their delays: `Schedule.min` (3: `Schedule.union`). */
export const scheduleUnion = (
  self: Schedule.Schedule<unknown>,
  that: Schedule.Schedule<unknown>
): Schedule.Schedule<unknown> => Schedule.min([self, that])

/** Recurs while both schedules do, after the longer of their delays: 3 `Schedule.intersect`, 4 `Schedule.max`. */
export const scheduleIntersect = <In>(
  self: Schedule.Schedule<unknown, In>,
  that: Schedule.Schedule<unknown, In>
): Schedule.Schedule<unknown, In> =>
  // One input type for both: `max`'s intersection of the inputs is `In` itself.
  Schedule.max([self, that]) as Schedule.Schedule<unknown, In>

/**
 * `base`'s delays, each at least `atLeastMillis(input)`, and no further recurrence once `keep(input)` is
 * false: 3 `intersect` with `identity` + `check` + `modifyDelay`, 4 `while` + `modifyDelay` on the metadata's input.
 */
export const shapeByInput = (
  base: Schedule.Schedule<unknown, unknown>,
  keep: (input: unknown) => boolean,
  atLeastMillis: (input: unknown) => number
): Schedule.Schedule<unknown, unknown> =>
  base.pipe(
    Schedule.while((meta) => keep(meta.input)),
    Schedule.modifyDelay((meta) =>
      Effect.succeed(Duration.max(meta.duration, Duration.millis(atLeastMillis(meta.input))))
    )
  )
