// Effect 3
import { HttpApp, HttpRouter, HttpServerResponse } from "@effect/platform"
import { Registry } from "breakwater"
import * as Dashboard from "breakwater/Dashboard"
import { Effect } from "effect"

// The dashboard's routes beside your own, answering one request in process (no socket): mount the same
// router in your server, e.g. `HttpServer.serve(app)`, to see the page at /breakwater.
export const program = Effect.scoped(
  Effect.gen(function*() {
    const registry = yield* Registry.make()
    const breaker = yield* registry.circuitBreaker("payments")
    yield* breaker.transitionToOpen
    const app = HttpRouter.empty.pipe(
      HttpRouter.get("/", HttpServerResponse.text("hello")),
      HttpRouter.concat(Dashboard.router)
    )
    const handler = HttpApp.toWebHandlerLayer(app, Dashboard.layer({ title: "checkout", guards: registry.guards }))
    yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))
    const response = yield* Effect.promise(() => handler.handler(new Request("http://localhost/breakwater/snapshot")))
    const document = (yield* Effect.promise(() => response.json())) as Dashboard.Document
    return document.guards.map((guard) => `${guard.name}: ${guard.state}`) // ["payments: Open"]
  })
)

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program).then(console.log)
