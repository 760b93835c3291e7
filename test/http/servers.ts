/**
 * Real `@effect/platform-node` servers on 127.0.0.1 with ephemeral ports, shut down by their scope,
 * and a scripted flaky dependency.
 */
import type { HttpApp, HttpMiddleware } from "@effect/platform"
import { HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect } from "effect"
import { createServer } from "node:http"

/** Serves `app` on 127.0.0.1:0 until the scope closes; returns its base URL. */
export const serve = <E>(app: HttpApp.Default<E>, middleware?: HttpMiddleware.HttpMiddleware) =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
    yield* middleware === undefined ? server.serve(app) : server.serve(app, middleware)
    const address = server.address as HttpServer.TcpAddress
    return `http://127.0.0.1:${address.port}`
  })

export type Mode =
  | "ok"
  | "fail"
  | "slow"
  | "bad-body"
  | "throttle-once"
  | "unavailable-date-once"
  | "client-error"

/** A dependency whose behaviour the test scripts through `state.mode`; counts the requests it gets. */
export const flaky = () => {
  const state = { mode: "ok" as Mode, hits: 0, delayMillis: 0 }
  const app = Effect.gen(function*() {
    yield* HttpServerRequest.HttpServerRequest
    state.hits++
    switch (state.mode) {
      case "ok":
        return HttpServerResponse.unsafeJson({ id: 1, name: "widget" })
      case "fail":
        return HttpServerResponse.text("boom", { status: 500 })
      case "slow":
        yield* Effect.sleep(state.delayMillis)
        return HttpServerResponse.unsafeJson({ id: 1, name: "widget" })
      case "bad-body":
        return HttpServerResponse.unsafeJson({ wrong: true })
      case "client-error":
        return HttpServerResponse.text("no such thing", { status: 404 })
      case "throttle-once":
        state.mode = "ok"
        return HttpServerResponse.text("slow down", { status: 429, headers: { "retry-after": "1" } })
      case "unavailable-date-once": {
        state.mode = "ok"
        const soon = new Date(Date.now() + 1500).toUTCString()
        return HttpServerResponse.text("maintenance", { status: 503, headers: { "retry-after": soon } })
      }
    }
  })
  return { state, app }
}
