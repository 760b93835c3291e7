// Effect 4
import { NodeHttpServer } from "@effect/platform-node"
import { RetryBudget } from "breakwater"
import * as NodeResilientHttpClient from "breakwater/NodeResilientHttpClient"
import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
import { Console, Effect, Option, Schema } from "effect"
import { HttpClient, HttpClientResponse, HttpServer, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"

// examples/http-quotes.ts on Effect 4 (breakwater's Effect 4 package; HTTP is effect/http there, and
// @effect/platform-node 4 needs Node 22.19 or later): the same client options, the same answers.
const Quote = Schema.Struct({ symbol: Schema.String, price: Schema.Number })

const startProvider = (status: number) =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
    yield* server.serve(Effect.succeed(HttpServerResponse.jsonUnsafe({ symbol: "ACME", price: 42 }, { status })))
    return HttpServer.formatAddress(server.address)
  })

const quote = (url: string) =>
  HttpClient.get(`${url}/quotes/ACME`).pipe(
    Effect.flatMap(HttpClientResponse.filterStatusOk),
    Effect.flatMap(HttpClientResponse.schemaBodyJson(Quote)),
    Effect.match({
      onSuccess: (q) => `${q.symbol} at ${q.price}`,
      onFailure: (error) =>
        Option.match(ResilientHttpClient.refusal(error), {
          onNone: () => `failed: ${error._tag}`,
          onSome: (refused) => `refused fast: ${refused._tag}`
        })
    })
  )

export const program = Effect.scoped(
  Effect.gen(function*() {
    const healthy = yield* startProvider(200)
    const failing = yield* startProvider(503)
    const budget = yield* RetryBudget.make({ name: "quotes", minRetriesPerSecond: 1, percentCanRetry: 0.2 })
    const Client = NodeResilientHttpClient.layer({
      name: "quotes",
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
      const client = yield* ResilientHttpClient.ResilientHttpClient
      const { targets } = yield* client.snapshot
      return { answers, circuits: targets.map((t) => t.circuitState) }
    }).pipe(Effect.provide(Client))
  })
)

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program)
