/**
 * The test port for Effect 3: what test files need whose name or home differs in Effect 4. Test files
 * import it as `#test-port`; the Effect 4 run (targets/effect4/vitest.config.ts) swaps in effect4.ts.
 */
import { it } from "@effect/vitest"
import {
  ConfigProvider,
  Effect,
  type Exit,
  Fiber,
  Logger,
  Option,
  Random,
  type Scope,
  Supervisor,
  TestContext,
  Tracer
} from "effect"
import * as FastCheck from "effect/FastCheck"
import type { FiberTracker } from "./fiberTracker.js"

export { TestClock } from "effect"
export { FastCheck }

/** A test that needs a `Scope`: `it.scoped` in @effect/vitest 0.x (`it.effect` provides one in 4). */
export const itScoped = it.scoped

/** A scoped test on the live clock: `it.scopedLive` in 0.30, `it.live` (which provides a `Scope`) in 4. */
export const itScopedLive = it.scopedLive

/** A config provider over a JSON-like object. */
export const configFromJson = (json: unknown): ConfigProvider.ConfigProvider => ConfigProvider.fromJson(json)

/** A provider over environment variables in constant case (`PAYMENTS_SLIDING_WINDOW_SIZE`). */
export const configFromEnv = (env: Record<string, string>): ConfigProvider.ConfigProvider =>
  ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }).pipe(ConfigProvider.constantCase)

/** Runs `self` with `provider` as its configuration. */
export const withConfig =
  (provider: ConfigProvider.ConfigProvider) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withConfigProvider(self, provider)

/** Lets the other fibers run before this one goes on: `Effect.yieldNow()` in 3, a value in 4. */
export const yieldNow: Effect.Effect<void> = Effect.yieldNow()

/** Whether a forked fiber has not finished yet (`unsafePoll` in 3, `pollUnsafe` in 4). */
export const isRunning = <A, E>(fiber: Fiber.RuntimeFiber<A, E>): boolean => fiber.unsafePoll() === null

/** Arbitraries for a property: a tuple, or a record whose values the body receives by name. */
export type PropArbitraries =
  | ReadonlyArray<FastCheck.Arbitrary<unknown>>
  | { readonly [K in string]: FastCheck.Arbitrary<unknown> }

/** The values a property's body receives for `A`. */
export type PropValues<A extends PropArbitraries> = {
  -readonly [K in keyof A]: A[K] extends FastCheck.Arbitrary<infer T> ? T : never
}

/**
 * An effectful property over fast-check arbitraries, each run on a fresh `TestClock`:
 * `it.effect.prop` in @effect/vitest 0.x (whose 4.x `prop` takes Effect 4's own `Arbitrary` instead).
 */
export const itEffectProp = <const A extends PropArbitraries>(
  name: string,
  arbitraries: A,
  body: (values: PropValues<A>) => Effect.Effect<unknown, unknown>,
  options?: { readonly fastCheck?: FastCheck.Parameters<[PropValues<A>]> }
): void =>
  // The 0.x signature wants a mutable array and its own parameter type: same values, looser types.
  it.effect.prop(name, arbitraries as any, (values: any) => Effect.asVoid(body(values)), {
    fastCheck: options?.fastCheck as any
  })

/** The Effect major these suites run against. */
export const targetMajor: 3 | 4 = 3

/** A fiber's exit if it has ended: `Fiber.poll` in 3, the fiber's `pollUnsafe()` in 4. */
export const pollFiber = <A, E>(fiber: Fiber.Fiber<A, E>): Effect.Effect<Option.Option<Exit.Exit<A, E>>> =>
  Fiber.poll(fiber)

/** How many finalizers an open scope holds (0 once closed): its `state.finalizers` in 3. */
export const scopeFinalizers = (scope: Scope.Scope): number => {
  const state = (scope as unknown as { state: { _tag: string; finalizers?: Map<unknown, unknown> } }).state
  return state._tag === "Open" ? state.finalizers?.size ?? 0 : 0
}

/** Runs `self` on a fresh `TestClock` (3: `TestContext.TestContext`, 4: `TestClock.layer()`). */
export const withTestClock = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provide(self, TestContext.TestContext)

/**
 * Runs `self` with a logger, in place of the default one, that adds the text of each warning to `into`
 * (3: `Logger.replace` and level tag "Warning", 4: `Logger.layer` and level "Warn").
 */
export const collectWarnings =
  (into: Array<string>) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provide(
      self,
      Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ logLevel, message }) => {
          if (logLevel._tag === "Warning") into.push(String(message))
        })
      )
    )

/**
 * The Node arguments that run a TypeScript file in a child process against this target: tsx, and (4)
 * targets/effect4/childProcess.mjs, which resolves `effect` and `#port` as this run does.
 */
export const tsxNodeArgs: ReadonlyArray<string> = ["--import", "tsx"]

/**
 * Runs `self` with a seeded `Random` (3: `Effect.withRandom(Random.make(seed))`, 4: `Random.withSeed`). The
 * two Effects draw different sequences from the same seed: tests must not depend on which calls it picks.
 */
export const withSeed = (seed: number) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withRandom(self, Random.make(seed))

/** Runs `self` with `logger` in place of the default one (3: `Logger.replace`, 4: `Logger.layer`). */
export const replaceLogger =
  <O>(logger: Logger.Logger<unknown, O>) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provide(self, Logger.replace(Logger.defaultLogger, logger))

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
    span: (name, parent, context, links, startTime, kind) => {
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
        context,
        get status() {
          return status
        },
        attributes,
        links,
        sampled: true,
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
    },
    context: (f) => f()
  })
  return { spans, tracer }
}

export type { FiberTracker }

/** A fiber tracker: 3 supervises the region with `Supervisor.track` (4 has no Supervisor). */
export const makeFiberTracker: Effect.Effect<FiberTracker> = Effect.map(Supervisor.track, (supervisor) => ({
  track: (self) => Effect.supervised(self, supervisor),
  alive: Effect.map(supervisor.value, (fibers) => fibers.filter((fiber) => fiber.unsafePoll() === null).length)
}))
