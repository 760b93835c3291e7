/**
 * The dashboard on a real loopback socket, and a raw HTTP/1.1 client that sets any `Host` header
 * (fetch would not), for the dashboard's access and load tests.
 */
import { callback } from "#port"
import { resourceLayer } from "#port/otel"
import { serveRoutes } from "#test-port/http"
import { Context, Effect, Layer } from "effect"
import * as http from "node:http"
import * as Dashboard from "../../src/dashboard/Dashboard.js"
import * as Metrics from "../../src/observability/Metrics.js"
import * as Prometheus from "../../src/observability/Prometheus.js"
import * as Registry from "../../src/registry/Registry.js"

/** Serves `Dashboard.router` (with `/metrics`) for `registry`'s guards on 127.0.0.1: its port and service. */
export const serveDashboard = (registry: Registry.Registry, options: Dashboard.Options = {}) =>
  Effect.gen(function*() {
    const collector = yield* Metrics.make({ registry })
    const prometheus = yield* Prometheus.make(collector).pipe(Effect.provide(resourceLayer(undefined)))
    const built = yield* Layer.build(Layer.mergeAll(
      Dashboard.layer({ guards: registry.guards, ...options }),
      Layer.succeed(Prometheus.Prometheus, prometheus)
    ))
    const url = yield* serveRoutes(Dashboard.router, undefined, built)
    return { port: Number(new URL(url).port), dashboard: Context.get(built, Dashboard.Dashboard) }
  })

export interface Answer {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  /** The body, or its first chunk for an event stream (then the connection is closed). */
  readonly body: string
}

/** One request on its own connection, with exactly the headers given (Host included). */
export const request = (port: number, path: string, headers: Record<string, string> = {}, method = "GET") =>
  callback<Answer, Error>((resume) => {
    const req = http.request({
      host: "127.0.0.1",
      port,
      path,
      method,
      headers: { host: "127.0.0.1", ...headers },
      agent: false
    })
    req.on("response", (res) => {
      let body = ""
      const done = () => resume(Effect.succeed({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.setEncoding("utf8")
      if (String(res.headers["content-type"]).startsWith("text/event-stream")) {
        res.once("data", (chunk: string) => {
          body = chunk
          res.destroy()
          done()
        })
        return
      }
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", done)
    })
    req.on("error", (error) => resume(Effect.fail(error)))
    req.end()
    return Effect.sync(() => req.destroy())
  })
