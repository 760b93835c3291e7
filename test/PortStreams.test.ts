import {
  closeQueue,
  configRecord,
  offerNow,
  publishNow,
  queueStream,
  readFields,
  slidingQueue,
  stringConfig,
  subscriptionStream,
  unwrapScoped
} from "#port"
import { configFromJson, itScoped, withConfig } from "#test-port"
import { describe, expect } from "@effect/vitest"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"

// The port's runtime, stream and config entries used by the Registry and Events, on both targets.
const settings = Config.all([
  readFields({ limit: (name: string) => Config.map(stringConfig(name), Number) }),
  Config.option(stringConfig("baseConfig"))
]).pipe(
  Config.map(([values, base]) => Option.isSome(base) ? { ...values, baseConfig: base.value } : values)
)
const spec = Config.all({ configs: configRecord(settings, "configs"), instances: configRecord(settings, "instances") })

describe("port entries", () => {
  itScoped("configRecord reads every entry under a name, and {} when the name is absent", () =>
    Effect.gen(function*() {
      const read = (json: unknown) => spec.pipe(withConfig(configFromJson(json)))
      expect(yield* read({ configs: { strict: { limit: 3 }, loose: { baseConfig: "strict" } } })).toEqual({
        configs: { strict: { limit: 3 }, loose: { baseConfig: "strict" } },
        instances: {}
      })
      expect(yield* read({})).toEqual({ configs: {}, instances: {} })
    }))

  itScoped(
    "a closed queue ends its stream; a subscription streams what is published after it",
    () =>
      Effect.gen(function*() {
        const queue = yield* slidingQueue<number>(2)
        offerNow(queue, 1)
        offerNow(queue, 2)
        offerNow(queue, 3)
        const waiting = yield* slidingQueue<number>(2)
        const reader = yield* Effect.forkScoped(Stream.runCollect(queueStream(waiting)))
        // Closing ends each stream (what is still queued is dropped) instead of interrupting its reader.
        yield* closeQueue(queue)
        yield* closeQueue(waiting)
        expect(Array.from(yield* Stream.runCollect(queueStream(queue)))).toEqual([])
        expect(Array.from(yield* Fiber.join(reader))).toEqual([])

        const pubsub = yield* PubSub.unbounded<string>()
        const subscription = yield* PubSub.subscribe(pubsub)
        publishNow(pubsub, "a")
        publishNow(pubsub, "b")
        const published = yield* Stream.runCollect(subscriptionStream(subscription).pipe(Stream.take(2)))
        expect(Array.from(published)).toEqual(["a", "b"])
      })
  )

  itScoped("unwrapScoped runs the stream, then releases what its effect acquired", () =>
    Effect.gen(function*() {
      let released = false
      const stream = unwrapScoped(
        Effect.acquireRelease(Effect.succeed(Stream.make(1, 2)), () => Effect.sync(() => released = true))
      )
      expect(Array.from(yield* Stream.runCollect(stream))).toEqual([1, 2])
      expect(released).toBe(true)
    }))
})
