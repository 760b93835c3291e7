/**
 * Property tests: random command sequences run against the real breaker (through Effect, with
 * TestClock) and against a naive reference model (test/helpers/referenceBreaker.ts), compared after
 * every command; and random record/roll sequences run against the pure windows and a naive list.
 *
 * `TestClock.adjust` waits for the test's fibers with a few real `setTimeout(0)` yields, so a sequence
 * of adjustments costs milliseconds of wall time. Each fast-check run therefore takes a batch of
 * cases and runs them concurrently, each with its own TestContext; fast-check still shrinks a failing
 * batch to a single minimal case.
 */
import { describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "breakwater"
import { Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, Option, Schedule } from "effect"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { defectOf, failureOf, forkChild, isInterruptOnly, type RunningFiber } from "#port"
import { FastCheck as fc, TestClock, withTestClock } from "#test-port"
import {
  type CallOutcome,
  ReferenceBreaker,
  type ReferenceConfig,
  type ReferenceMetrics,
  type StateName,
  type Ticket
} from "./helpers/referenceBreaker.js"

// ---- commands -----------------------------------------------------------------------------------

type DurationChoice = "zero" | "belowSlow" | "atSlow" | "aboveSlow" | number

type Command =
  | { readonly _tag: "Call"; readonly outcome: CallOutcome; readonly duration: DurationChoice }
  | { readonly _tag: "Start" }
  | { readonly _tag: "Finish"; readonly index: number; readonly outcome: Exclude<CallOutcome, "interrupt"> }
  | { readonly _tag: "Interrupt"; readonly index: number }
  | { readonly _tag: "Advance"; readonly millis: number }
  | { readonly _tag: "AdvanceToBucketEdge"; readonly delta: -1 | 0 | 1 }
  | { readonly _tag: "AdvanceToOpenEnd"; readonly delta: -1 | 0 | 1 }
  | { readonly _tag: "AdvanceToHalfOpenDeadline"; readonly delta: -1 | 0 | 1 }
  | { readonly _tag: "Transition"; readonly to: StateName }
  | { readonly _tag: "OpenFor"; readonly millis: number }
  | { readonly _tag: "Reset" }

interface Case {
  readonly config: ReferenceConfig
  readonly commands: ReadonlyArray<Command>
}

const states: ReadonlyArray<StateName> = ["Closed", "Open", "HalfOpen", "Disabled", "ForcedOpen", "MetricsOnly"]
const finishOutcomes = ["success", "failure", "ignored", "benign", "defect", "badResult"] as const
const delta = fc.constantFrom(-1 as const, 0 as const, 1 as const)
const threshold = fc.oneof(fc.constantFrom(1, 20, 25, 50, 66.7, 75, 100), fc.integer({ min: 1, max: 100 }))

const configArb = (
  slidingWindowType: "COUNT_BASED" | "TIME_BASED",
  exponentialWaitInOpenState = false
): fc.Arbitrary<ReferenceConfig> =>
  fc.record({
    slidingWindowType: fc.constant(slidingWindowType),
    slidingWindowSize: fc.integer({ min: 1, max: slidingWindowType === "COUNT_BASED" ? 6 : 4 }),
    minimumNumberOfCalls: fc.integer({ min: 1, max: 6 }),
    failureRateThreshold: threshold,
    slowCallRateThreshold: threshold,
    slowCallDurationThresholdMillis: fc.constantFrom(1, 50, 400, 1000),
    permittedNumberOfCallsInHalfOpenState: fc.integer({ min: 1, max: 4 }),
    waitDurationInOpenStateMillis: fc.oneof(fc.constantFrom(1, 1000, 2500), fc.integer({ min: 1, max: 5000 })),
    exponentialWaitInOpenState: fc.constant(exponentialWaitInOpenState),
    automaticTransitionFromOpenToHalfOpenEnabled: fc.boolean(),
    maxWaitDurationInHalfOpenStateMillis: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4000 })),
    transitionToStateAfterWaitDuration: fc.constantFrom("Open" as const, "Closed" as const)
  })

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      _tag: fc.constant("Call" as const),
      outcome: fc.constantFrom<CallOutcome>(...finishOutcomes, "interrupt"),
      duration: fc.oneof(
        { weight: 4, arbitrary: fc.constant("zero" as const) },
        { weight: 3, arbitrary: fc.constantFrom("belowSlow" as const, "atSlow" as const, "aboveSlow" as const) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }) }
      )
    })
  },
  { weight: 3, arbitrary: fc.constant({ _tag: "Start" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      _tag: fc.constant("Finish" as const),
      index: fc.nat(3),
      outcome: fc.constantFrom(...finishOutcomes)
    })
  },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("Interrupt" as const), index: fc.nat(3) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      _tag: fc.constant("Advance" as const),
      millis: fc.oneof(fc.constantFrom(1, 999, 1000, 1001), fc.integer({ min: 1, max: 6000 }))
    })
  },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("AdvanceToBucketEdge" as const), delta }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("AdvanceToOpenEnd" as const), delta }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("AdvanceToHalfOpenDeadline" as const), delta }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("Transition" as const), to: fc.constantFrom(...states) }) },
  {
    weight: 1,
    arbitrary: fc.record({ _tag: fc.constant("OpenFor" as const), millis: fc.integer({ min: 1, max: 4000 }) })
  },
  { weight: 1, arbitrary: fc.constant({ _tag: "Reset" as const }) }
)

const caseArb = (slidingWindowType: "COUNT_BASED" | "TIME_BASED"): fc.Arbitrary<Case> =>
  fc.record({
    config: configArb(slidingWindowType),
    commands: fc.array(commandArb, { minLength: 1, maxLength: 30 })
  })

/** A backing-off wait, under every command, manual Disabled, ForcedOpen and MetricsOnly included. */
const backoffCaseArb = (slidingWindowType: "COUNT_BASED" | "TIME_BASED"): fc.Arbitrary<Case> =>
  fc.record({
    config: configArb(slidingWindowType, true),
    commands: fc.array(commandArb, { minLength: 1, maxLength: 30 })
  })

// ---- running a case against the real breaker and the model ---------------------------------------

interface TestError {
  readonly _tag: "Boom" | "Ignored" | "Benign"
}

const outcomeEffect = (outcome: CallOutcome): Effect.Effect<string, TestError> => {
  switch (outcome) {
    case "success":
      return Effect.succeed("ok")
    case "badResult":
      return Effect.succeed("bad")
    case "failure":
      return Effect.fail({ _tag: "Boom" })
    case "ignored":
      return Effect.fail({ _tag: "Ignored" })
    case "benign":
      return Effect.fail({ _tag: "Benign" })
    case "defect":
      return Effect.die("defect")
    case "interrupt":
      return Effect.interrupt
  }
}

/** Whether `exit` is what a call with `outcome` (or a refusal) ends with. */
const exitMatches = (exit: Exit.Exit<string, unknown>, outcome: CallOutcome | "refused"): boolean => {
  if (Exit.isSuccess(exit)) {
    return (outcome === "success" && exit.value === "ok") || (outcome === "badResult" && exit.value === "bad")
  }
  const cause = exit.cause
  const failure = Option.getOrUndefined(failureOf(cause)) as { readonly _tag?: string } | undefined
  switch (outcome) {
    case "refused":
      return failure?._tag === "CallNotPermittedError"
    case "failure":
      return failure?._tag === "Boom"
    case "ignored":
      return failure?._tag === "Ignored"
    case "benign":
      return failure?._tag === "Benign"
    case "defect":
      return Option.isSome(defectOf(cause))
    case "interrupt":
      return isInterruptOnly(cause)
    default:
      return false
  }
}

const resolveDuration = (choice: DurationChoice, slow: number): number => {
  switch (choice) {
    case "zero":
      return 0
    case "belowSlow":
      return slow - 1
    case "atSlow":
      return slow
    case "aboveSlow":
      return slow + 1
    default:
      return choice
  }
}

/** How far an advance command moves the clock, decided from the model (0 = nothing to do). */
const advanceBy = (command: Command, model: ReferenceBreaker): number => {
  const now = model.now
  const until = (target: number) => (Number.isFinite(target) && target > now ? target - now : 0)
  switch (command._tag) {
    case "Advance":
      return command.millis
    case "AdvanceToBucketEdge":
      return until((Math.floor(now / 1000) + 1) * 1000 + command.delta)
    case "AdvanceToOpenEnd":
      return model.state === "Open" ? until(model.openUntil + command.delta) : 0
    case "AdvanceToHalfOpenDeadline":
      return model.state === "HalfOpen" && model.config.maxWaitDurationInHalfOpenStateMillis > 0
        ? until(model.halfOpenSince + model.config.maxWaitDurationInHalfOpenStateMillis + command.delta)
        : 0
    default:
      return 0
  }
}

interface PendingCall {
  readonly fiber: RunningFiber<Exit.Exit<string, TestError | CircuitBreaker.CallNotPermittedError>>
  readonly release: Deferred.Deferred<CallOutcome>
  readonly ticket: Ticket
}

const describeCase = (c: Case, upTo: number, model: ReferenceBreaker) =>
  [
    `config: ${JSON.stringify(c.config)}`,
    `commands: ${JSON.stringify(c.commands.slice(0, upTo + 1))}`,
    `model log: ${model.log.join("; ")}`
  ].join("\n")

class Divergence extends Error {}

const runCase = (c: Case): Effect.Effect<void> =>
  Effect.gen(function*() {
    const cfg = c.config
    const breaker = yield* CircuitBreaker.make<TestError, string>({
      name: "property",
      slidingWindowType: cfg.slidingWindowType,
      slidingWindowSize: cfg.slidingWindowSize,
      minimumNumberOfCalls: cfg.minimumNumberOfCalls,
      failureRateThreshold: cfg.failureRateThreshold,
      slowCallRateThreshold: cfg.slowCallRateThreshold,
      slowCallDurationThreshold: cfg.slowCallDurationThresholdMillis,
      permittedNumberOfCallsInHalfOpenState: cfg.permittedNumberOfCallsInHalfOpenState,
      waitDurationInOpenState: cfg.exponentialWaitInOpenState
        ? Schedule.exponential(Duration.millis(cfg.waitDurationInOpenStateMillis))
        : cfg.waitDurationInOpenStateMillis,
      automaticTransitionFromOpenToHalfOpenEnabled: cfg.automaticTransitionFromOpenToHalfOpenEnabled,
      maxWaitDurationInHalfOpenState: cfg.maxWaitDurationInHalfOpenStateMillis,
      transitionToStateAfterWaitDuration: cfg.transitionToStateAfterWaitDuration,
      ignoreError: (e) => e._tag === "Ignored",
      recordError: (e) => e._tag !== "Benign",
      recordResult: (value) => value === "bad"
    })
    const model = new ReferenceBreaker(cfg)
    const pending: Array<PendingCall> = []
    const guard = CircuitBreaker.withCircuitBreaker(breaker)

    for (let step = 0; step < c.commands.length; step++) {
      const command = c.commands[step]!
      const fail = (what: string): never => {
        throw new Divergence(`step ${step} (${JSON.stringify(command)}): ${what}\n${describeCase(c, step, model)}`)
      }
      switch (command._tag) {
        case "Call": {
          const duration = resolveDuration(command.duration, cfg.slowCallDurationThresholdMillis)
          let ran = false
          const body = Effect.suspend(() => {
            ran = true
            return duration > 0
              ? Effect.andThen(TestClock.adjust(duration), outcomeEffect(command.outcome))
              : outcomeEffect(command.outcome)
          })
          const exit = yield* Effect.exit(guard(body))
          const ticket = model.admit()
          if (ticket !== undefined) {
            model.advanceTo(model.now + duration)
            model.complete(ticket, command.outcome)
          }
          if (ran !== (ticket !== undefined)) fail(`permitted: breaker ${ran}, model ${ticket !== undefined}`)
          if (!exitMatches(exit, ticket === undefined ? "refused" : command.outcome)) {
            fail(`unexpected exit ${JSON.stringify(exit)}`)
          }
          break
        }
        case "Start": {
          if (pending.length >= 4) break
          const started = yield* Deferred.make<boolean>()
          const release = yield* Deferred.make<CallOutcome>()
          const body = Effect.andThen(
            Deferred.succeed(started, true),
            Effect.flatMap(Deferred.await(release), outcomeEffect)
          )
          const fiber = yield* forkChild(
            Effect.exit(guard(body)).pipe(Effect.ensuring(Deferred.succeed(started, false)))
          )
          const admitted = yield* Deferred.await(started)
          const ticket = model.admit()
          if (admitted !== (ticket !== undefined)) fail(`permitted: breaker ${admitted}, model ${ticket !== undefined}`)
          if (ticket === undefined) {
            const exit = yield* Fiber.join(fiber)
            if (!exitMatches(exit, "refused")) fail(`unexpected exit ${JSON.stringify(exit)}`)
          } else {
            pending.push({ fiber, release, ticket })
          }
          break
        }
        case "Finish": {
          if (pending.length === 0) break
          const [call] = pending.splice(command.index % pending.length, 1)
          yield* Deferred.succeed(call!.release, command.outcome)
          const exit = yield* Fiber.join(call!.fiber)
          model.complete(call!.ticket, command.outcome)
          if (!exitMatches(exit, command.outcome)) fail(`unexpected exit ${JSON.stringify(exit)}`)
          break
        }
        case "Interrupt": {
          if (pending.length === 0) break
          const [call] = pending.splice(command.index % pending.length, 1)
          yield* Fiber.interrupt(call!.fiber)
          model.complete(call!.ticket, "interrupt")
          break
        }
        case "Advance":
        case "AdvanceToBucketEdge":
        case "AdvanceToOpenEnd":
        case "AdvanceToHalfOpenDeadline": {
          const millis = advanceBy(command, model)
          if (millis <= 0) break
          yield* TestClock.adjust(millis)
          model.advanceTo(model.now + millis)
          break
        }
        case "Transition":
        case "OpenFor": {
          const to = command._tag === "OpenFor" ? "Open" : command.to
          const effect = command._tag === "OpenFor"
            ? breaker.transitionToOpenStateFor(command.millis)
            : {
              Closed: breaker.transitionToClosed,
              Open: breaker.transitionToOpen,
              HalfOpen: breaker.transitionToHalfOpen,
              Disabled: breaker.transitionToDisabled,
              ForcedOpen: breaker.transitionToForcedOpen,
              MetricsOnly: breaker.transitionToMetricsOnly
            }[command.to]
          const exit = yield* Effect.exit(effect)
          const legal = model.transitionTo(to, command._tag === "OpenFor" ? command.millis : undefined)
          if (legal !== Exit.isSuccess(exit)) fail(`legal: breaker ${Exit.isSuccess(exit)}, model ${legal}`)
          if (!legal) {
            const error = Exit.isFailure(exit) ? Option.getOrUndefined(failureOf(exit.cause)) : undefined
            if (error?._tag !== "IllegalStateTransitionError") fail(`expected IllegalStateTransitionError`)
          }
          break
        }
        case "Reset": {
          yield* breaker.reset
          model.reset()
          break
        }
      }
      const clockNow = yield* Clock.currentTimeMillis
      if (clockNow !== model.now) fail(`clock ${clockNow} vs model ${model.now}`)
      const state = yield* breaker.state
      if (state !== model.state) fail(`state: breaker ${state}, model ${model.state}`)
      const actual = yield* breaker.metrics
      const expected: ReferenceMetrics = model.metrics()
      for (const key of Object.keys(expected) as Array<keyof ReferenceMetrics>) {
        if (actual[key] !== expected[key]) {
          fail(`metrics: breaker ${JSON.stringify(actual)}\n         model   ${JSON.stringify(expected)}`)
        }
      }
    }
  }).pipe(Effect.scoped, withTestClock, Effect.orDie)

/** Runs every case of a batch concurrently; rejects with the first divergence. */
let casesRun = 0
const runBatch = (cases: ReadonlyArray<Case>) =>
  Effect.runPromise(
    Effect.forEach(cases, (c) => Effect.tap(runCase(c), () => Effect.sync(() => casesRun++)), {
      concurrency: "unbounded",
      discard: true
    })
  ).catch((error: unknown) => {
    throw Cause.isCause(error) ? new Error(Cause.pretty(error)) : error
  })

const BATCH = 60
const RUNS = 45 // batches of 1 to BATCH cases: about 1,200 cases (some 20,000 commands) per window type

const checkAgainstModel = (arb: fc.Arbitrary<Case>, numRuns: number) => async () => {
  const before = casesRun
  await fc.assert(
    fc.asyncProperty(fc.array(arb, { minLength: 1, maxLength: BATCH, size: "max" }), runBatch),
    { numRuns }
  )
  // Every run is a batch of at least one case (batches are random in size, so no larger bound is sure).
  expect(casesRun - before).toBeGreaterThanOrEqual(numRuns)
}

describe("CircuitBreaker against a reference model", () => {
  for (const windowType of ["COUNT_BASED", "TIME_BASED"] as const) {
    it(
      `${windowType}: random calls, clock advances, transitions, resets and interruptions`,
      checkAgainstModel(caseArb(windowType), RUNS),
      60_000
    )
  }

  it(
    "an exponential Schedule as the wait in Open backs off per consecutive opening",
    checkAgainstModel(fc.oneof(backoffCaseArb("COUNT_BASED"), backoffCaseArb("TIME_BASED")), RUNS / 3),
    60_000
  )

  // Divergences from Resilience4j's count of consecutive openings: its Disabled state holds 0
  // attempts (like Closed), so the next opening is a first one again and waits the first step.
  const firstWaitAfterDisabled = (viaHalfOpen: boolean) =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "backoff",
        waitDurationInOpenState: Schedule.exponential("1 second")
      })
      yield* breaker.transitionToOpen // first opening: 1 s
      yield* breaker.transitionToDisabled
      if (viaHalfOpen) yield* breaker.transitionToHalfOpen
      yield* breaker.transitionToOpen // a first opening again after Disabled: 1 s, not 2 s
      yield* TestClock.adjust("1 second")
      const exit = yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.succeed("probe"), breaker))
      expect(exit).toEqual(Exit.succeed("probe"))
      expect(yield* breaker.state).toBe("HalfOpen")
    }).pipe(Effect.scoped)

  // Regressions: the schedule once restarted only on Closed, and HalfOpen from Disabled counted 1.
  it.effect("Open → Disabled → Open waits the first step of the schedule again", () => firstWaitAfterDisabled(false))

  it.effect("Disabled → HalfOpen → Open is a first opening", () => firstWaitAfterDisabled(true))
})
