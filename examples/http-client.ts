// Effect 3
import { HttpClient, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import * as NodeResilientHttpClient from "breakwater/NodeResilientHttpClient"
import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
import { Console, Effect, Option } from "effect"
import { createServer } from "node:http"

// A dependency that has started to fail: every call answers 503.
const startDependency = Effect.gen(function*() {
  const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
  yield* server.serve(HttpServerResponse.text("down for maintenance", { status: 503 }))
  return `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
})

// An existing program, written against HttpClient only: it does not change.
const fetchPrices = (url: string) =>
  Effect.flatMap(HttpClient.get(`${url}/prices`), (response) => Effect.succeed(response.status))

export const program = Effect.scoped(
  Effect.gen(function*() {
    const url = yield* startDependency
    const protectedClient = NodeResilientHttpClient.layer({
      name: "prices",
      circuitBreaker: { slidingWindowSize: 4, minimumNumberOfCalls: 4, waitDurationInOpenState: "30 seconds" },
      retry: { maxAttempts: 2, waitDuration: "5 millis" },
      attemptTimeout: "500 millis",
      totalTimeout: "2 seconds"
    })
    return yield* Effect.gen(function*() {
      const answers: Array<string> = []
      for (let i = 0; i < 3; i++) {
        const answer = yield* fetchPrices(url).pipe(
          Effect.map((status) => `dependency answered ${status}`),
          Effect.catchAll((error) =>
            Effect.succeed(Option.match(ResilientHttpClient.refusal(error), {
              onNone: () => `failed: ${error.message}`,
              onSome: (refused) => `refused fast: ${refused._tag}`
            }))
          )
        )
        answers.push(answer)
        yield* Console.log(answer)
      }
      const snapshot = yield* Effect.flatMap(ResilientHttpClient.ResilientHttpClient, (client) => client.snapshot)
      const target = snapshot.targets[0]!
      yield* Console.log(`${target.target}: circuit ${target.circuitState}, pressures [${target.pressures.join(", ")}]`)
      return { answers, circuitState: target.circuitState, responses: target.responses }
    }).pipe(Effect.provide(protectedClient))
  })
)

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program)
