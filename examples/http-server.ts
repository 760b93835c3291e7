// Effect 3
import { HttpClient, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
import { Console, Effect } from "effect"
import { createServer } from "node:http"

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/quotes", HttpServerResponse.unsafeJson({ symbol: "ACME", price: 42 }))
)

export const program = Effect.scoped(
  Effect.gen(function*() {
    // Three requests per minute per client IP; at most 100 requests served at once.
    const limit = yield* RateLimitMiddleware.make({
      name: "quotes",
      limitForPeriod: 3,
      limitRefreshPeriod: "1 minute",
      maxConcurrentRequests: 100
    })
    const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
    yield* server.serve(limit.router(router))
    const url = `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}/quotes`

    const client = yield* HttpClient.HttpClient
    const seen: Array<string> = []
    for (let i = 0; i < 4; i++) {
      const response = yield* client.get(url)
      const line = `${response.status} RateLimit: ${response.headers["ratelimit"]}` +
        (response.status === 429 ? `, Retry-After: ${response.headers["retry-after"]}` : "")
      seen.push(line)
      yield* Console.log(line)
    }
    return seen
  })
).pipe(Effect.provide(NodeHttpClient.layerUndici))

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program)
