// Effect 3
import { HttpClient, HttpClientResponse, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { RetryBudget } from "breakwater"
import * as NodeResilientHttpClient from "breakwater/NodeResilientHttpClient"
import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
import { Console, Effect, Option, Schema } from "effect"
import { createServer } from "node:http"

// What a quote must look like: a 200 whose body does not decode is a failed attempt (reason Decode).
const Quote = Schema.Struct({ symbol: Schema.String, price: Schema.Number })

// Two quote providers on loopback: one healthy, one that answers 503.
const startProvider = (status: number) =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
    yield* server.serve(HttpServerResponse.unsafeJson({ symbol: "ACME", price: 42 }, { status }))
    return `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
  })

const quote = (url: string) =>
  HttpClient.get(`${url}/quotes/ACME`).pipe(
    Effect.flatMap(HttpClientResponse.filterStatusOk),
    Effect.flatMap(HttpClientResponse.schemaBodyJson(Quote)),
    Effect.map((q) => `${q.symbol} at ${q.price}`),
    Effect.catchAll((error) =>
      Effect.succeed(Option.match(ResilientHttpClient.refusal(error), {
        onNone: () => `failed: ${error._tag}`,
        onSome: (refused) => `refused fast: ${refused._tag}`
      }))
    )
  )

export const program = Effect.scoped(
  Effect.gen(function*() {
    const healthy = yield* startProvider(200)
    const failing = yield* startProvider(503)
    // One budget for every host: retries may add at most 20% of recent requests (plus a small floor).
    const budget = yield* RetryBudget.make({ name: "quotes", minRetriesPerSecond: 1, percentCanRetry: 0.2 })
    const Client = NodeResilientHttpClient.layer({
      name: "quotes",
      // A breaker, a limiter and a retry per host (the default key is the URL's host).
      circuitBreaker: { slidingWindowSize: 4, minimumNumberOfCalls: 4, waitDurationInOpenState: "30 seconds" },
      retry: { maxAttempts: 3, waitDuration: "5 millis" },
      retryBudget: budget,
      validate: Quote,
      attemptTimeout: "1 second",
      totalTimeout: "3 seconds"
    })
    return yield* Effect.gen(function*() {
      const answers: Array<string> = []
      for (let i = 0; i < 4; i++) {
        answers.push(yield* quote(failing), yield* quote(healthy))
      }
      yield* Console.log(answers.join("\n"))
      const { targets } = yield* Effect.flatMap(ResilientHttpClient.ResilientHttpClient, (c) => c.snapshot)
      return { answers, circuits: targets.map((t) => t.circuitState) }
    }).pipe(Effect.provide(Client))
  })
)

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program)
