/**
 * A TimeLimiter inside a real server handler, on a real socket and the REAL clock (every wait is tens of
 * milliseconds): Effect 3's server runs handlers interruptibly, Effect 4's uninterruptibly. Either way
 * the slow call is cut at its deadline without a fiber of its own, and the handler answers in time.
 */
import { HttpServerResponse } from "#port/httpServer"
import { itScopedLive } from "#test-port"
import { realClient, serve } from "#test-port/http"
import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import * as TimeLimiter from "../../src/guards/TimeLimiter.js"

describe("TimeLimiter in a server handler (real sockets, real clock)", () => {
  itScopedLive(
    "cuts a slow call at its deadline; the handler answers and the call never completes",
    () =>
      Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({ name: "handler", timeoutDuration: "50 millis" })
        let completed = false
        let interrupted = false
        const slow = Effect.sleep("5 seconds").pipe(
          Effect.tap(() => Effect.sync(() => (completed = true))),
          Effect.onInterrupt(() => Effect.sync(() => (interrupted = true)))
        )
        const handler = TimeLimiter.withTimeLimiter(slow, limiter).pipe(
          Effect.as(HttpServerResponse.text("done")),
          Effect.catchTag(
            "TimeoutExceededError",
            () => Effect.succeed(HttpServerResponse.text("timed out", { status: 504 }))
          )
        )
        const url = yield* serve(handler)
        const client = yield* realClient
        const started = performance.now()
        const response = yield* client.get(url)
        expect(response.status).toBe(504)
        expect(yield* response.text).toBe("timed out")
        // Well under the call's 5 s: the deadline cut it (a generous bound for a loaded machine).
        expect(performance.now() - started).toBeLessThan(2_000)
        expect(interrupted).toBe(true)
        expect(completed).toBe(false)
      })
  )
})
