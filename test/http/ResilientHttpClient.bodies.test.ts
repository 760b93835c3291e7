/**
 * Hostile upstreams against the body caps (issue 15, item 1), on real loopback sockets through the
 * real undici client: a 500 declaring 2 GB, an endless chunked 500, an endless 200 read for
 * `validate`. Each call ends quickly, the server manages to send only about the cap plus the kernel's
 * socket buffers (the client closes the connection instead of draining it), and the heap stays flat.
 * REAL clock: the only waits are for the client to hang up, bounded by `Effect.timeout`.
 */
import { layerScoped } from "#port"
import { HttpClient } from "#port/httpClient"
import { itScopedLive } from "#test-port"
import { realClient } from "#test-port/http"
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, Option, Schema } from "effect"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"
import { isDecodeFailure } from "./dependency.js"
import { endless } from "./rawServers.js"

/**
 * Loopback socket buffers (send + receive, autotuned) hold a few MB at most; an uncapped read of
 * these bodies reaches hundreds of MB in a second (issue 15: 2,036 MB in 6.9 s).
 */
const NEAR_THE_CAP = 16 * 1024 * 1024 // measured: ~4 MB per connection on Linux loopback
const HEAP_GROWTH = 48 * 1024 * 1024

const clientWith = (options: Omit<ResilientHttpClient.Options, "name">) =>
  Effect.gen(function*() {
    const resilience = yield* ResilientHttpClient.make({ name: "bodies", retry: false, ...options })
    const base = yield* realClient
    return { resilience, client: ResilientHttpClient.wrap(base, resilience) }
  })

const heap = () => process.memoryUsage().heapUsed

describe("ResilientHttpClient body caps (real sockets)", () => {
  itScopedLive(
    "a 500 declaring 2 GB: 64 KiB kept, the connection closed, the rest never sent",
    () =>
      Effect.gen(function*() {
        const { url, wire } = yield* endless("HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2147483648")
        const { client, resilience } = yield* clientWith({})
        const before = heap()
        const response = yield* client.get(`${url}/lying`)
        expect(response.status).toBe(500)
        const text = yield* response.text
        expect(text.length).toBe(64 * 1024)
        expect(response.headers["content-length"]).toBeUndefined() // the copy does not claim 2 GB
        yield* Deferred.await(wire.closed).pipe(Effect.timeout("5 seconds"))
        expect(wire.bytesSent()).toBeLessThan(NEAR_THE_CAP)
        expect(heap() - before).toBeLessThan(HEAP_GROWTH)
        const [target] = (yield* resilience.snapshot).targets
        expect(Option.getOrThrow(target!.circuitMetrics).numberOfFailedCalls).toBe(1)
      })
  )

  itScopedLive("an endless chunked 500 is cut at maxFailureBodyBytes, on every attempt", () =>
    Effect.gen(function*() {
      const { url, wire } = yield* endless("HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: chunked", {
        chunked: true
      })
      const { client } = yield* clientWith({ maxFailureBodyBytes: 1000, retry: { maxAttempts: 3, waitDuration: 0 } })
      const before = heap()
      const response = yield* client.get(`${url}/forever`)
      expect(response.status).toBe(500)
      expect((yield* response.arrayBuffer).byteLength).toBe(1000)
      expect(wire.connections()).toBeGreaterThanOrEqual(3) // a cut connection is never reused
      yield* Deferred.await(wire.closed).pipe(Effect.timeout("5 seconds"))
      expect(wire.bytesSent() / wire.connections()).toBeLessThan(NEAR_THE_CAP)
      expect(heap() - before).toBeLessThan(HEAP_GROWTH)
    }))

  itScopedLive(
    "an endless 200 read for validate fails typed, counted by the breaker, connection closed",
    () =>
      Effect.gen(function*() {
        const { url, wire } = yield* endless(
          "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked",
          {
            chunked: true,
            next: () => Buffer.from("1,".repeat(32 * 1024))
          }
        )
        const { client, resilience } = yield* clientWith({
          validate: Schema.Array(Schema.Number),
          maxValidatedBodyBytes: 1024 * 1024,
          circuitBreaker: { slidingWindowSize: 2, minimumNumberOfCalls: 2, waitDurationInOpenState: "1 minute" }
        })
        const before = heap()
        const error = yield* Effect.flip(client.get(`${url}/json`))
        expect(error._tag).toBe("ResponseBodyTooLargeError")
        const tooLarge = error as ResilientHttpClient.ResponseBodyTooLargeError
        expect(tooLarge.limitBytes).toBe(1024 * 1024)
        expect(tooLarge.target).toBe(new URL(url).host)
        expect(tooLarge.message).toContain("maxValidatedBodyBytes (1048576 bytes)")
        expect(tooLarge.response.status).toBe(200)
        yield* Deferred.await(wire.closed).pipe(Effect.timeout("5 seconds"))
        expect(wire.bytesSent()).toBeLessThan(NEAR_THE_CAP)
        expect(heap() - before).toBeLessThan(HEAP_GROWTH)

        // A breaker failure: a second one opens the circuit.
        yield* Effect.flip(client.get(`${url}/json`))
        const [target] = (yield* resilience.snapshot).targets
        expect(target!.failures.bodyTooLarge).toBe(2)
        expect(Option.getOrThrow(target!.circuitMetrics).numberOfFailedCalls).toBe(2)
        expect(target!.circuitState).toBe("Open")
        expect((yield* Effect.flip(client.get(`${url}/json`)))._tag).toBe("CallNotPermittedError")
      })
  )

  itScopedLive(
    "through the layer, an oversized body is a decode failure carrying the typed error",
    () =>
      Effect.gen(function*() {
        const { url } = yield* endless("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked", { chunked: true })
        const context = yield* Layer.build(
          ResilientHttpClient.layer({ name: "bodies-layer", validate: Schema.Unknown, maxValidatedBodyBytes: 4096 })
            .pipe(
              Layer.provide(layerScoped(HttpClient.HttpClient, realClient))
            )
        )
        const client = Context.get(context, HttpClient.HttpClient)
        const error = yield* Effect.flip(client.get(`${url}/x`))
        // Effect 3: a `ResponseError` (reason `Decode`); Effect 4: an `HttpClientError` with a `DecodeError`.
        expect(isDecodeFailure(error)).toBe(true)
        expect((error.cause as { _tag: string })._tag).toBe("ResponseBodyTooLargeError")
      })
  )

  it.effect("a body that fits is kept whole; bad limits fail with InvalidConfigError naming field and value", () =>
    Effect.gen(function*() {
      for (
        const [field, value] of [
          ["maxFailureBodyBytes", -1],
          ["maxFailureBodyBytes", 1.5],
          ["maxValidatedBodyBytes", 0],
          ["maxValidatedBodyBytes", 2 ** 31],
          ["maxValidatedBodyBytes", Number.POSITIVE_INFINITY]
        ] as const
      ) {
        const error = yield* Effect.flip(Effect.scoped(ResilientHttpClient.make({ name: "bad", [field]: value })))
        expect(error._tag).toBe("InvalidConfigError")
        expect(error.message).toContain(`${field} = ${value}`)
      }
    }))
})
