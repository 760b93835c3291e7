/**
 * A scripted dependency for the client suites on a plain `node:http` server (127.0.0.1, ephemeral port,
 * closed with the test's scope): the same on both Effect targets, since it uses no Effect HTTP module.
 * Real sockets and the real clock, as the Effect servers of `servers.ts`.
 */
import { type SeriesSnapshot, viewSeries } from "#port"
import { targetMajor } from "#test-port"
import { Effect } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as zlib from "node:zlib"

/** Serves `handler` on 127.0.0.1:0 until the scope closes; returns its base URL. */
export const serveNode = (handler: http.RequestListener) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.promise(() =>
        new Promise<http.Server>((resolve) => {
          const server = http.createServer(handler)
          server.listen(0, "127.0.0.1", () => resolve(server))
        })
      ),
      (server) =>
        Effect.promise(() =>
          new Promise<void>((resolve) => {
            server.closeAllConnections()
            server.close(() => resolve())
          })
        )
    ),
    (server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  )

export type Mode =
  | "ok"
  | "fail"
  | "slow"
  | "bad-body"
  | "throttle-once"
  | "unavailable-date-once"
  | "client-error"

const send = (
  response: http.ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
  type = "text/plain"
) => {
  if (response.destroyed) return
  response.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), ...headers })
  response.end(body)
}

const json = (response: http.ServerResponse, value: unknown) =>
  send(response, 200, JSON.stringify(value), {}, "application/json")

/**
 * A dependency whose behaviour the test scripts through `state.mode`; counts the requests it gets.
 * The same modes and answers as `servers.ts`'s `flaky`.
 */
export const flakyServer = () =>
  Effect.gen(function*() {
    const state = { mode: "ok" as Mode, hits: 0, delayMillis: 0 }
    const url = yield* serveNode((request, response) => {
      state.hits++
      request.resume()
      switch (state.mode) {
        case "ok":
          return json(response, { id: 1, name: "widget" })
        case "fail":
          return send(response, 500, "boom")
        case "slow": {
          const timer = setTimeout(() => json(response, { id: 1, name: "widget" }), state.delayMillis)
          response.on("close", () => clearTimeout(timer))
          return
        }
        case "bad-body":
          return json(response, { wrong: true })
        case "client-error":
          return send(response, 404, "no such thing")
        case "throttle-once":
          state.mode = "ok"
          return send(response, 429, "slow down", { "retry-after": "1" })
        case "unavailable-date-once": {
          state.mode = "ok"
          const soon = new Date(Date.now() + 1500).toUTCString()
          return send(response, 503, "maintenance", { "retry-after": soon })
        }
      }
    })
    return { state, url }
  })

/**
 * Whether undici loads here: Effect 4's `@effect/platform-node` brings undici 8, which needs Node >= 22.19
 * (it binds `zlib.createZstdDecompress` on load); Effect 3's undici 7 loads on Node 20. Suites that build
 * an undici `Agent` (`NodeResilientHttpClient`, pool figures) are skipped where it does not.
 */
export const undiciLoads = targetMajor === 3 ||
  typeof (zlib as { readonly createZstdDecompress?: unknown }).createZstdDecompress === "function"

/** A failure of the response's body decoding (Effect 3: `ResponseError` `Decode`; 4: `HttpClientError` with a `DecodeError`). */
export const isDecodeFailure = (error: unknown): boolean => {
  const e = error as { readonly _tag?: unknown; readonly reason?: unknown }
  return targetMajor === 3
    ? e._tag === "ResponseError" && e.reason === "Decode"
    : e._tag === "HttpClientError" && (e.reason as { readonly _tag?: unknown })._tag === "DecodeError"
}

/** A request that got no response (Effect 3: `RequestError` `Transport`; 4: `HttpClientError` with a `TransportError`). */
export const isTransportFailure = (error: unknown): boolean => {
  const e = error as { readonly _tag?: unknown; readonly reason?: unknown }
  return targetMajor === 3
    ? e._tag === "RequestError" && e.reason === "Transport"
    : e._tag === "HttpClientError" && (e.reason as { readonly _tag?: unknown })._tag === "TransportError"
}

/** The value of the series named `name` with exactly `labels` (a counter's count, a gauge's value). */
export const seriesValue = (
  series: ReadonlyArray<SeriesSnapshot>,
  name: string,
  labels: Record<string, string>
): number | undefined => {
  for (const snapshot of series) {
    const view = viewSeries(snapshot)
    if (view.name !== name || view.labels.length !== Object.keys(labels).length) continue
    if (!view.labels.every(([key, value]) => labels[key] === value)) continue
    return view.type === "counter" || view.type === "gauge" ? view.value : undefined
  }
  return undefined
}

/** A server answering every request with `status`, the text `body` and `headers`. */
export const answering = (status: number, body: string, headers: Record<string, string> = {}) =>
  serveNode((request, response) => {
    request.resume()
    send(response, status, body, headers)
  })
