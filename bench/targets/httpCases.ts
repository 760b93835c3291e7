/**
 * The HTTP section's measurements (bench/scenarios/http.ts describes the cases and the rounds) on either
 * Effect target. This file is compiled twice by build.mjs: once against Effect 3 (`@effect/platform`) and
 * once against Effect 4 (`effect/http`, with the `effect` and `@effect/platform-node` of
 * targets/effect4), `#port/*` and `#test-port/*` resolved to that target's ports. It imports only names
 * both targets share (the servers come from the HTTP test port), so both builds run the same code.
 */
import { HttpServerResponse } from "#port/httpServer"
import { nodeHttpClient, realClient, serve } from "#test-port/http"
import { Effect } from "effect"
import * as RateLimitMiddleware from "../../src/http/RateLimitMiddleware.js"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"
import {
  type HttpBenchConfig,
  HttpCases,
  type HttpComparison,
  type HttpFigures,
  type HttpRow,
  type HttpTarget,
  pairedRow,
  percentile
} from "../scenarios/http.js"
import { checkMajor } from "./names.js"

/** `inFlight` loops sending `get` back to back for `millis`; latencies in microseconds. */
const round = (get: Effect.Effect<void, unknown>, inFlight: number, millis: number) =>
  Effect.gen(function*() {
    const latencies: Array<number> = []
    const start = performance.now()
    const cpu = process.cpuUsage()
    const end = start + millis
    const loop: Effect.Effect<void, unknown> = Effect.suspend(() => {
      if (performance.now() >= end) return Effect.void
      const sent = performance.now()
      return Effect.flatMap(get, () => {
        latencies.push((performance.now() - sent) * 1000)
        return loop
      })
    })
    yield* Effect.all(Array.from({ length: inFlight }, () => loop), { concurrency: "unbounded", discard: true })
    const seconds = (performance.now() - start) / 1000
    const used = process.cpuUsage(cpu)
    latencies.sort((a, b) => a - b)
    return {
      requestsPerSecond: latencies.length / seconds,
      p50Micros: percentile(latencies, 0.5),
      p99Micros: percentile(latencies, 0.99),
      cpuMicros: (used.user + used.system) / latencies.length
    } satisfies HttpFigures
  })

/** A case measured against a baseline case. */
interface HttpPair {
  readonly name: string
  readonly comparison: HttpComparison
  readonly get: Effect.Effect<void, unknown>
  readonly baseline: Effect.Effect<void, unknown>
}

/**
 * `rounds` paired rounds (after one warm-up round) of `pair`'s case and its baseline, in alternating
 * order, each `millis` long with `inFlight` requests in flight.
 */
const pairedRounds = (
  pair: HttpPair,
  mode: HttpRow["mode"],
  options: { readonly rounds: number; readonly millis: number; readonly inFlight: number }
) =>
  Effect.gen(function*() {
    const guarded: Array<HttpFigures> = []
    const plain: Array<HttpFigures> = []
    for (let r = -1; r < options.rounds; r++) {
      let g: HttpFigures
      let p: HttpFigures
      if (r % 2 === 0) {
        g = yield* round(pair.get, options.inFlight, options.millis)
        p = yield* round(pair.baseline, options.inFlight, options.millis)
      } else {
        p = yield* round(pair.baseline, options.inFlight, options.millis)
        g = yield* round(pair.get, options.inFlight, options.millis)
      }
      if (r >= 0) {
        guarded.push(g)
        plain.push(p)
      }
    }
    return pairedRow(pair, mode, options.inFlight, guarded, plain)
  })

/** The client's interface as this file uses it (both targets' `HttpClient` have it). */
interface Getter {
  readonly get: (url: string) => Effect.Effect<{
    readonly status: number
    readonly text: Effect.Effect<string, unknown>
  }, unknown>
}

/** GETs `url` with `client` and reads the body, failing on anything but `200 ok`. */
const getOk = (client: Getter, url: string): Effect.Effect<void, unknown> =>
  Effect.flatMap(
    client.get(url),
    (response) =>
      Effect.flatMap(response.text, (text) =>
        response.status === 200 && text === "ok"
          ? Effect.void
          : Effect.fail(new Error(`unexpected ${response.status}`)))
  )

const app = Effect.succeed(HttpServerResponse.text("ok"))

/** The part of a middleware that every middleware is: the platform's slot for one, and nothing else. */
const passThrough = <A>(inner: A): A => inner

/**
 * The two header fields `RateLimitMiddleware` adds to a granted response (the values it sends for the
 * bench's limit), added by a plain `Effect.map`: what sending and reading them costs, without the rest.
 */
const headersOnly = <E, R>(
  inner: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> =>
  Effect.map(inner, (response) =>
    HttpServerResponse.setHeaders(response, {
      "ratelimit-policy": "\"bench\";q=1000000000;w=1",
      "ratelimit": "\"bench\";r=999999999;t=1"
    }))

/**
 * The load generator, per target. Effect 3: the undici client, as the section has always measured it.
 * Effect 4: the `node:http` client, because Effect 4's undici client needs undici 8, which does not load
 * on Node < 22.19 (the bench runs on the repository's Node 20); the same client on both sides of every
 * Effect 4 ratio.
 */
const loadGenerators = {
  3: {
    client: realClient,
    label: "@effect/platform's HttpClient on undici (`NodeHttpClient.layerUndici`, keep-alive)"
  },
  4: {
    client: nodeHttpClient,
    label: "`effect/http`'s HttpClient on `node:http` (`NodeHttpClient.layerNodeHttpOptions({ keepAlive: true })`; " +
      "Effect 4's undici client needs Node 22.19+)"
  }
} as const

/** The section's measurements on the Effect `major` this file was compiled for. */
export const httpTarget = (major: 3 | 4): HttpTarget => {
  checkMajor(major, Effect)
  const generator = loadGenerators[major]
  return {
    effect: major,
    loadGenerator: generator.label,
    measure: (config: HttpBenchConfig) =>
      Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const plainUrl = yield* serve(app)
        const controlUrl = yield* serve(app)
        const limit = yield* RateLimitMiddleware.make({
          name: "bench",
          limitForPeriod: 1_000_000_000,
          limitRefreshPeriod: "1 second"
        })
        const limitedUrl = yield* serve(app, limit)
        const aroundAppUrl = yield* serve(limit(app))
        const passThroughUrl = yield* serve(app, passThrough)
        const headersUrl = yield* serve(app, headersOnly)
        const base = yield* generator.client
        const resilience = yield* ResilientHttpClient.make({ name: "bench" })
        const guarded = ResilientHttpClient.wrap(base, resilience)
        const baseline = getOk(base, plainUrl)
        const pairs: Array<HttpPair> = [
          { name: HttpCases.control, comparison: "control" as const, get: getOk(base, controlUrl), baseline },
          { name: HttpCases.client, comparison: "client" as const, get: getOk(guarded, plainUrl), baseline },
          { name: HttpCases.middleware, comparison: "middleware" as const, get: getOk(base, limitedUrl), baseline },
          { name: HttpCases.aroundApp, comparison: "aroundApp" as const, get: getOk(base, aroundAppUrl), baseline },
          {
            name: HttpCases.passThrough,
            comparison: "passThrough" as const,
            get: getOk(base, passThroughUrl),
            baseline
          },
          { name: HttpCases.headers, comparison: "headers" as const, get: getOk(base, headersUrl), baseline }
        ].filter((p) => config.only === undefined || config.only.includes(p.comparison))
        const modes = [
          { mode: "sequential" as const, inFlight: 1 },
          { mode: "concurrent" as const, inFlight: config.concurrency }
        ]
        const rows: Array<HttpRow> = []
        for (const { inFlight, mode } of modes) {
          for (const pair of pairs) {
            rows.push(yield* pairedRounds(pair, mode, { rounds: config.rounds, millis: config.millis, inFlight }))
          }
        }
        return rows
      })))
  }
}
