import * as Port from "#port"
import { targetMajor } from "#test-port"
import { Resource } from "@effect/opentelemetry"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

// Each suite runs once per Effect target: this fails if module resolution silently handed the shared
// sources the other major (the repository's own node_modules hold Effect 3 beside Effect 4's toolchain).
describe("Effect target", () => {
  it("the effect that the shared sources import is the target's major", () => {
    // Effect 4 renamed forkDaemon to forkDetach (EFFECT4.md's API map); neither major has both.
    const loaded = "forkDetach" in Effect ? 4 : "forkDaemon" in Effect ? 3 : undefined
    expect(loaded).toBe(targetMajor)
  })

  it("the integrations the shared sources import are built on the target's effect", () => {
    // Each major brands its layers with its own key (Effect 3 a `Symbol.for("effect/Layer")`, Effect 4
    // "~effect/Layer"), so a layer made by an integration bound to the other major is not a layer here.
    expect(Layer.isLayer(NodeHttpClient.layerUndici)).toBe(true)
    expect(Layer.isLayer(Resource.layerEmpty)).toBe(true)
  })

  it("both ports export the same run-time names (the shared sources type-check against each)", () => {
    expect(Object.keys(Port).sort()).toEqual([
      "DurationInputSchema",
      "DurationOrSchedule",
      "FiniteDuration",
      "Name",
      "OneOf",
      "Percentage",
      "Predicate",
      "Service",
      "WholeNumber",
      "absentWhen",
      "booleanConfig",
      "callback",
      "clearInterruption",
      "closeQueue",
      "completeNow",
      "configList",
      "configRecord",
      "counterFamily",
      "currentClock",
      "currentFiberLocal",
      "currentFiberSpan",
      "currentRunner",
      "declare",
      "decodeOptions",
      "decodeUnknownEffect",
      "defectOf",
      "dieMessage",
      "durationConfig",
      "durationOf",
      "exponentialBounds",
      "failureOf",
      "filterMapOption",
      "forkChild",
      "forkDetach",
      "forkScope",
      "gaugeFamily",
      "histogramFamily",
      "inFiberSupported",
      "interruptInPlace",
      "interruptNow",
      "invalidConfig",
      "isEmptyCause",
      "isInterruptOnly",
      "layerContext",
      "layerScoped",
      "literals",
      "makeDeferredNow",
      "makeFiberLocal",
      "makeSemaphoreNow",
      "makeSeries",
      "makeStepper",
      "metricLabels",
      "nowMillis",
      "numberConfig",
      "offerNow",
      "originalError",
      "overrideInFiberSupport",
      "parseJson",
      "publishNow",
      "queueStream",
      "readFields",
      "refChanges",
      "refine",
      "restoreDefaults",
      "scheduleIntersect",
      "scheduleUnion",
      "scopeProvide",
      "serviceKey",
      "shapeByInput",
      "slidingQueue",
      "strictBooleanConfig",
      "strictNumberConfig",
      "stringConfig",
      "stringRecord",
      "subscriptionStream",
      "timeoutFail",
      "toDuration",
      "union",
      "unwrapLayer",
      "unwrapLayerScoped",
      "unwrapScoped",
      "viewSeries",
      "withCallerFiber",
      "withClock",
      "withDefault",
      "withFiberLocal"
    ])
  })
})
