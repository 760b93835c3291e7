/**
 * The Effect 4 port: the same names as `../effect3/index.ts`, in Effect 4's own types. The Effect 4
 * build resolves `#port` here (targets/effect4: tsconfig `paths`, vitest alias, and the package's
 * `imports`); `effect` itself resolves to Effect 4 there, so this file imports `effect` like any other.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import type * as Config from "effect/Config"
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
  booleanConfig,
  decodeOptions,
  durationConfig,
  DurationInputSchema,
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
} from "./options.js"
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

/** A service key: Effect 4's `Context.Key`. */
export type ServiceKey<I, S> = Context.Key<I, S>

/** A class-style service key: `class Budget extends Service<Budget, RetryBudget>()("Budget") {}`. */
export const Service = <Self, Shape>() => <const Key extends string>(key: Key) => Context.Service<Self, Shape>()(key)

/** What a duration option accepts: a `Duration`, milliseconds, or a string such as `"5 seconds"`. */
export type DurationInput = Duration.Input

/** A `DurationInput` as a `Duration` (the input has been validated already). */
export const toDuration: (input: DurationInput) => Duration.Duration = Duration.fromInputUnsafe

/** The error a `Config` read fails with. */
export type ConfigFailure = Config.ConfigError

/** The fiber's `Clock`, taken once at `make` so that the hot path reads it synchronously. */
export const currentClock: Effect.Effect<Clock.Clock> = Clock.clockWith(Effect.succeed)

/** The clock's time in milliseconds, synchronously (for match handlers and pure cores). */
export const nowMillis = (clock: Clock.Clock): number => clock.currentTimeMillisUnsafe()
