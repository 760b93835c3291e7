/**
 * The scenario on real loopback HTTP: the dependency, "my server" and the dashboard are real
 * @effect/platform-node servers on 127.0.0.1 with ephemeral ports, the clients send real requests,
 * and the clock is the real one. Each mode runs in its own scope, servers included. The HTTP names
 * that differ between Effects come from the ports (`#port/httpServer`, `#port/nodeHttpClient`, …).
 */
import { routesApp } from "#port/demo"
import { HttpClient } from "#port/httpClient"
import { HttpServerResponse, type ServerRequest, type ServerResponse } from "#port/httpServer"
import { makeAgent, undiciClientLayer } from "#port/nodeHttpClient"
import { resourceLayer } from "#port/otel"
import { NodeHttpServer } from "@effect/platform-node"
import { Metrics } from "breakwater"
import * as Dashboard from "breakwater/Dashboard"
import * as Prometheus from "breakwater/Prometheus"
import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
import { Clock, Effect, Layer, Schedule, type Scope } from "effect"
import { createServer } from "node:http"
import * as Dependency from "./dependency.js"
import { DashboardFeed, type Live } from "./feed.js"
import * as LoadGenerator from "./loadGenerator.js"
import * as MyServer from "./myServer.js"
import type { RunResult } from "./results.js"
import { guardSettings, type Mode, type Scenario } from "./scenario.js"

export interface LiveOptions {
  readonly scenario: Scenario
  readonly modes: ReadonlyArray<Mode>
  /** Serve the dashboard (port 0: any free port). */
  readonly dashboard: false | { readonly port: number }
  /** Called with the dashboard's URL once it listens. */
  readonly onDashboard?: (url: string) => void
  /** Called about once a second with a progress line. */
  readonly onProgress?: (line: string) => void
  /** The guards' metric names' first word on `/metrics` (default `breakwater`; `resilience4j` for its dashboards). */
  readonly metricsPrefix?: string
}

const serve = <E>(
  app: Effect.Effect<ServerResponse, E, ServerRequest | Scope.Scope>,
  port = 0
) =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => createServer(), { port, host: "127.0.0.1" })
    yield* server.serve(app)
    const address = server.address
    if (!("port" in address)) return yield* Effect.die(new Error("not a TCP server"))
    return `http://127.0.0.1:${address.port}`
  }).pipe(Effect.orDie) // a loopback server on a free port: failing to listen is a broken machine

const respond = (answer: Dependency.Answer) =>
  HttpServerResponse.text(answer.body, {
    status: answer.status,
    ...(answer.retryAfterSeconds === undefined ? {} : { headers: { "retry-after": String(answer.retryAfterSeconds) } })
  })

/** An undici agent with its own connection pools (at most `connections` per origin), closed with the scope. */
const undiciAgent = (connections?: number) =>
  makeAgent({ keepAliveTimeout: 10_000, ...(connections === undefined ? {} : { connections }) })

/** An `HttpClient` sending through `agent`. */
const clientOf = (agent: Parameters<typeof undiciClientLayer>[0]) =>
  Effect.provide(HttpClient.HttpClient, undiciClientLayer(agent))

const undiciClient: Effect.Effect<HttpClient.HttpClient, never, Scope.Scope> = Effect.flatMap(undiciAgent(), clientOf)

const runMode = (
  scenario: Scenario,
  mode: Mode,
  feed: DashboardFeed,
  collector: Metrics.Collector,
  options: LiveOptions
) =>
  Effect.scoped(Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const dependency = Dependency.make(scenario, start)
    // Interruptible, so that a hanging answer ends when its caller goes away: platform server handlers
    // run uninterruptibly, and one finishing after its client left waits forever for Node's
    // `response.end` callback (never called on a closed socket), one leaked fiber per abandoned call.
    const dependencyUrl = yield* serve(Effect.interruptible(Effect.map(dependency.handle, respond)))
    // My server's own connection pool to the dependency: bounded when protected, measured in both modes.
    const pool = guardSettings(scenario, mode).pool
    const agent = yield* undiciAgent(pool?.connections)
    const server = yield* MyServer.make(
      scenario,
      mode,
      yield* clientOf(agent),
      `${dependencyUrl}/work`,
      agent
    ).pipe(Effect.provideService(Metrics.Collector, collector))
    // Its inbound edge, measured (latency, codes, keys) by a rate-limit policy generous enough never to refuse.
    const inbound = yield* RateLimitMiddleware.make({
      name: "my-server",
      limitForPeriod: 100_000,
      limitRefreshPeriod: "1 second"
    }).pipe(Effect.orDie)
    const serverUrl = `${yield* serve(inbound(Effect.map(server.handle, respond)))}/work`
    const clients = yield* undiciClient
    const stats = LoadGenerator.emptyStats()
    const send = Effect.scoped(
      Effect.flatMap(clients.get(serverUrl), (response) =>
        Effect.as(Effect.ignore(response.text), {
          status: response.status,
          retryAfterMillis: 1000 * (Number(response.headers["retry-after"] ?? "0") || 0)
        }))
    )
    const live: Live = { mode, scenario, start, dependency, server, clients: stats, http: [inbound] }
    yield* feed.follow(live)
    if (options.onProgress !== undefined) {
      const report = options.onProgress
      yield* Effect.forkScoped(Effect.repeat(
        Effect.flatMap(feed.progressLine, (line) => Effect.sync(() => report(line))),
        Schedule.spaced(1000)
      ))
    }
    yield* LoadGenerator.run(scenario, start, send, stats)
    const result: RunResult = {
      mode,
      scenario,
      clients: stats,
      outcomes: { ...server.outcomes },
      received: server.received(),
      dependencyArrivals: dependency.stats.arrivals,
      overloadAfterRecovery: dependency.overloadAfterRecovery()
    }
    return result
  }))

/** Runs each mode in turn, the dashboard (if any) following the current one. */
export const run = (options: LiveOptions): Effect.Effect<ReadonlyArray<RunResult>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const collector = yield* Metrics.make(options.metricsPrefix === undefined ? {} : { prefix: options.metricsPrefix })
    const feed = new DashboardFeed()
    if (options.dashboard !== false) {
      const prometheus = yield* Prometheus.make(collector).pipe(Effect.provide(resourceLayer(undefined)))
      const context = Layer.mergeAll(
        Dashboard.layer(feed.options()),
        Layer.succeed(Prometheus.Prometheus, prometheus)
      )
      const app = yield* Layer.build(context).pipe(
        Effect.orDie, // the demo's own options: a bad one is a bug
        Effect.flatMap((built) => routesApp(Dashboard.router, built))
      )
      const url = yield* serve(app, options.dashboard.port)
      options.onDashboard?.(`${url}/breakwater`)
    }
    const results: Array<RunResult> = []
    for (const mode of options.modes) {
      results.push(yield* runMode(options.scenario, mode, feed, collector, options))
    }
    return results
  })
