/**
 * The test port for Effect 4 (see effect3.ts): the same names, in Effect 4's forms.
 */
import { it } from "@effect/vitest"
import {
  ConfigProvider,
  Effect,
  type Exit,
  type Fiber,
  Logger,
  Metric,
  Option,
  Random,
  type Scope,
  Tracer
} from "effect"
import type { FiberTracker } from "./fiberTracker.js"

// Effect 4 no longer re-exports fast-check; the toolchain in targets/effect4 installs it.
import { TestClock } from "effect/testing"
import * as FastCheck from "fast-check"

export { FastCheck, TestClock }

/** `it.effect` provides a `Scope` in @effect/vitest 4. */
export const itScoped = it.effect

/** A scoped test on the live clock: `it.scopedLive` in 0.30, `it.live` (which provides a `Scope`) in 4. */
export const itScopedLive = it.live

/** A config provider over a JSON-like object. */
export const configFromJson = (json: unknown): ConfigProvider.ConfigProvider => ConfigProvider.fromUnknown(json)

/** A provider over environment variables in constant case (`PAYMENTS_SLIDING_WINDOW_SIZE`). */
export const configFromEnv = (env: Record<string, string>): ConfigProvider.ConfigProvider =>
  ConfigProvider.fromEnv({ env }).pipe(ConfigProvider.constantCase)

/** Runs `self` with `provider` as its configuration. */
export const withConfig =
  (provider: ConfigProvider.ConfigProvider) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provideService(self, ConfigProvider.ConfigProvider, provider)

/** Lets the other fibers run before this one goes on: `Effect.yieldNow()` in 3, a value in 4. */
export const yieldNow: Effect.Effect<void> = Effect.yieldNow

/** Whether a forked fiber has not finished yet (`unsafePoll` in 3, `pollUnsafe` in 4). */
export const isRunning = <A, E>(fiber: Fiber.Fiber<A, E>): boolean => fiber.pollUnsafe() === undefined

/** Arbitraries for a property: a tuple, or a record whose values the body receives by name. */
export type PropArbitraries =
  | ReadonlyArray<FastCheck.Arbitrary<unknown>>
  | { readonly [K in string]: FastCheck.Arbitrary<unknown> }

/** The values a property's body receives for `A`. */
export type PropValues<A extends PropArbitraries> = {
  -readonly [K in keyof A]: A[K] extends FastCheck.Arbitrary<infer T> ? T : never
}

/**
 * An effectful property over fast-check arbitraries, each run on a fresh `TestClock`. @effect/vitest 4's
 * `it.effect.prop` takes Effect 4's own `Arbitrary`, so this runs fast-check itself (`it.effect.prop`
 * in 0.x).
 */
export const itEffectProp = <const A extends PropArbitraries>(
  name: string,
  arbitraries: A,
  body: (values: PropValues<A>) => Effect.Effect<unknown, unknown>,
  options?: { readonly fastCheck?: FastCheck.Parameters<[PropValues<A>]> }
): void => {
  const all = (Array.isArray(arbitraries)
    ? FastCheck.tuple(...(arbitraries as ReadonlyArray<FastCheck.Arbitrary<unknown>>))
    : FastCheck.record(arbitraries as Record<string, FastCheck.Arbitrary<unknown>>)) as unknown as FastCheck.Arbitrary<
      PropValues<A>
    >
  it(name, () =>
    FastCheck.assert(
      FastCheck.asyncProperty(all, (values) =>
        Effect.runPromise(Effect.provide(Effect.asVoid(body(values)), TestClock.layer()))),
      options?.fastCheck
    ))
}

/** The Effect major these suites run against. */
export const targetMajor: 3 | 4 = 4

/** A fiber's exit if it has ended: `Fiber.poll` in 3, the fiber's `pollUnsafe()` in 4. */
export const pollFiber = <A, E>(fiber: Fiber.Fiber<A, E>): Effect.Effect<Option.Option<Exit.Exit<A, E>>> =>
  Effect.sync(() => Option.fromUndefinedOr(fiber.pollUnsafe()))

/** How many finalizers an open scope holds (0 once closed): 4 keeps one inline, more in a map. */
export const scopeFinalizers = (scope: Scope.Scope): number => {
  const state = scope.state
  if (state._tag !== "Open") return 0
  return state.finalizers?.size ?? (state.finalizer === undefined ? 0 : 1)
}

/** Runs `self` on a fresh `TestClock` (3: `TestContext.TestContext`, 4: `TestClock.layer()`). */
export const withTestClock = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provide(self, TestClock.layer())

/**
 * Runs `self` with a logger, in place of the default one, that adds the text of each warning to `into`
 * (3: `Logger.replace` and level tag "Warning", 4: `Logger.layer` and level "Warn").
 */
export const collectWarnings =
  (into: Array<string>) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provide(
      self,
      Logger.layer([
        Logger.make(({ logLevel, message }) => {
          if (logLevel === "Warn") into.push(String(message))
        })
      ])
    )

/**
 * The Node arguments that run a TypeScript file in a child process against this target: tsx, and (4)
 * targets/effect4/childProcess.mjs, which resolves `effect` and `#port` as this run does.
 */
export const tsxNodeArgs: ReadonlyArray<string> = [
  "--import",
  new URL("../../targets/effect4/childProcess.mjs", import.meta.url).href,
  "--import",
  "tsx"
]

/**
 * Runs `self` with a seeded `Random` (3: `Effect.withRandom(Random.make(seed))`, 4: `Random.withSeed`). The
 * two Effects draw different sequences from the same seed: tests must not depend on which calls it picks.
 */
export const withSeed = (seed: number) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Random.withSeed(self, seed)

/** Runs `self` with `logger` in place of the default one (3: `Logger.replace`, 4: `Logger.layer`). */
export const replaceLogger =
  <O>(logger: Logger.Logger<unknown, O>) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provide(self, Logger.layer([logger]))

/** A span a `recordingTracer` made: its name, attributes and events (name, time, attributes). */
export interface RecordedSpan {
  readonly name: string
  readonly attributes: Map<string, unknown>
  readonly events: Array<readonly [string, bigint, Record<string, unknown>]>
}

/** A tracer that keeps every span it makes (3: `span(name, parent, …)`, 4: `span(options)`). */
export const recordingTracer = (): { readonly spans: Array<RecordedSpan>; readonly tracer: Tracer.Tracer } => {
  const spans: Array<RecordedSpan> = []
  const tracer = Tracer.make({
    span: ({ annotations, kind, links, name, parent, sampled, startTime }) => {
      const attributes = new Map<string, unknown>()
      const events: Array<readonly [string, bigint, Record<string, unknown>]> = []
      spans.push({ name, attributes, events })
      let status: Tracer.SpanStatus = { _tag: "Started", startTime }
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: `span-${spans.length}`,
        traceId: "trace",
        parent,
        annotations,
        get status() {
          return status
        },
        attributes,
        links,
        sampled,
        kind,
        end: (endTime, exit) => {
          status = { _tag: "Ended", startTime, endTime, exit }
        },
        attribute: (key, value) => {
          attributes.set(key, value)
        },
        event: (eventName, at, attrs) => {
          events.push([eventName, at, attrs ?? {}])
        },
        addLinks: () => {}
      }
      return span
    }
  })
  return { spans, tracer }
}

export type { FiberTracker }

/**
 * A fiber tracker: 4 has no Supervisor; its runtime tells the `Metric.FiberRuntimeMetrics` service of
 * every fiber's start and end, and a fiber inherits its parent's services, so a service that counts
 * both, provided to the region, counts the region's fibers.
 */
export const makeFiberTracker: Effect.Effect<FiberTracker> = Effect.sync(() => {
  let alive = 0
  const counter = {
    recordFiberStart: () => void alive++,
    recordFiberEnd: () => void alive--
  }
  return {
    track: (self) => Effect.provideService(self, Metric.FiberRuntimeMetrics, counter),
    alive: Effect.sync(() => alive)
  }
})
