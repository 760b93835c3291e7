/**
 * The Effect 3 port: the few names and shapes that differ between Effect 3 and Effect 4, in Effect 3's
 * own types. Shared sources import them from `#port`; the Effect 3 build resolves `#port` here (tsconfig
 * `paths`, vitest alias, and package.json `imports` for the published package), the Effect 4 build to
 * `../effect4/index.ts`. Everything else in `src/` imports `effect` directly: its names are the same
 * in both versions.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

export { configRecord } from "./config.js"
export { absentWhen, configList } from "./config.js"
export {
  currentFiberLocal,
  type FiberLocal,
  layerContext,
  makeDeferredNow,
  makeFiberLocal,
  unwrapLayerScoped,
  withFiberLocal
} from "./edgeRuntime.js"
export {
  clearInterruption,
  type InFiberDeadline,
  inFiberSupported,
  interruptInPlace,
  type Interruptor,
  isEmptyCause,
  overrideInFiberSupport,
  withCallerFiber
} from "./inFiber.js"
export {
  type CounterFamily,
  counterFamily,
  exponentialBounds,
  type GaugeFamily,
  gaugeFamily,
  type HistogramFamily,
  histogramFamily,
  makeSeries,
  type MetricFamily,
  type MetricLabels,
  metricLabels,
  type SeriesCell,
  type SeriesHook,
  type SeriesSnapshot,
  type SeriesView,
  viewSeries
} from "./metrics.js"
export {
  callback,
  type CloseableScope,
  completeNow,
  currentFiberSpan,
  currentRunner,
  defectOf,
  dieMessage,
  durationOf,
  failureOf,
  type FiberIdentity,
  filterMapOption,
  forkChild,
  forkDetach,
  forkScope,
  interruptNow,
  isInterruptOnly,
  layerScoped,
  makeSemaphoreNow,
  originalError,
  publishNow,
  type Runner,
  type RunningFiber,
  scopeProvide,
  type Semaphore,
  serviceKey,
  type Subscription,
  subscriptionStream,
  timeoutFail,
  unwrapLayer,
  unwrapScoped,
  withClock
} from "./runtime.js"
export { makeStepper, scheduleIntersect, scheduleUnion, type Stepper } from "./schedule.js"
export { shapeByInput } from "./schedule.js"
export {
  type AnySchema,
  declare,
  literals,
  parseJson,
  type PathIssue,
  refine,
  union,
  type Verdict,
  withDefault
} from "./schema.js"
export { type Codec, decodeUnknownEffect, stringRecord } from "./schemaShapes.js"
export { type ClosableQueue, closeQueue, offerNow, queueStream, refChanges, slidingQueue } from "./stream.js"
export {
  booleanConfig,
  decodeOptions,
  durationConfig,
  DurationInput as DurationInputSchema,
  DurationOrSchedule,
  FiniteDuration,
  invalidConfig,
  Name,
  numberConfig,
  OneOf,
  Percentage,
  Predicate,
  readFields,
  restoreDefaults,
  strictBooleanConfig,
  strictNumberConfig,
  stringConfig,
  WholeNumber
} from "./validation.js"

/** A service key: Effect 3's `Context.Tag`. */
export type ServiceKey<I, S> = Context.Tag<I, S>

/**
 * A class-style service key, called the way Effect 4's `Context.Service` is:
 * `class Budget extends Service<Budget, RetryBudget>()("Budget") {}`.
 */
export const Service = <Self, Shape>() => <const Key extends string>(key: Key) => Context.Tag(key)<Self, Shape>()

/** What a duration option accepts: a `Duration`, milliseconds, or a string such as `"5 seconds"`. */
export type DurationInput = Duration.DurationInput

/** A `DurationInput` as a `Duration` (the input has been validated already). */
export const toDuration: (input: DurationInput) => Duration.Duration = Duration.decode

/** The error a `Config` read fails with. */
export type ConfigFailure = ConfigError.ConfigError

/** The fiber's `Clock`, taken once at `make` so that the hot path reads it synchronously. */
export const currentClock: Effect.Effect<Clock.Clock> = Effect.clock

/** The clock's time in milliseconds, synchronously (for match handlers and pure cores). */
export const nowMillis = (clock: Clock.Clock): number => clock.unsafeCurrentTimeMillis()
