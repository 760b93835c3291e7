/**
 * What the dashboard's routes share: each dashboard's serving state (kept beside it by `make`), and
 * the guard every route goes through (`Host` allowed, `authorize`, security headers, no defect
 * leaked), with the event stream, asset and `/metrics` handlers.
 *
 * @internal
 */
import { dieMessage, isInterruptOnly } from "#port"
import { HttpServerResponse, routeParams, ServerRequest, type ServerResponse } from "#port/httpServer"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Health from "../../observability/Health.js"
import * as Prometheus from "../../observability/Prometheus.js"
import * as access from "./dashboardAccess.js"
import { type Access, Dashboard, type Options } from "./dashboardApi.js"
import { asset, assetNames } from "./dashboardAssets.js"
import type * as DashboardConfig from "./dashboardConfig.js"
import type * as timeline from "./dashboardTimeline.js"

/** How a dashboard made by `Dashboard.make` serves its routes. */
export interface Serving {
  readonly title: Effect.Effect<string>
  /** The JSON of the interval's shared document. */
  readonly snapshot: Effect.Effect<string>
  /** The JSON of the charts' long history. */
  readonly timeline: Effect.Effect<string>
  /** The health report as its readers may see it. */
  readonly health: Effect.Effect<Health.Health>
  /** The event stream of one more viewer, for the request's scope; none past `maxViewers`. */
  readonly watch: Effect.Effect<Option.Option<Stream.Stream<Uint8Array>>, never, Scope.Scope>
  readonly settings: typeof DashboardConfig.OptionsSchema.Type
  readonly authorize: Options["authorize"]
}

export interface Frame {
  readonly sequence: number
  readonly json: string
  readonly bytes: Uint8Array
  readonly point: timeline.Point
}

export const serving = new WeakMap<Dashboard, Serving>()

const servingOf = (dashboard: Dashboard): Effect.Effect<Serving> => {
  const found = serving.get(dashboard)
  return found === undefined
    ? dieMessage("Dashboard.router serves a Dashboard made by Dashboard.make or Dashboard.layer")
    : Effect.succeed(found)
}

/**
 * A web `Request` handled in process (`HttpApp.toWebHandler`) may carry no `Host` header: its absolute
 * URL names the host instead. A socket's request always has the header (HTTP/1.1 requires it).
 */
const hostOfUrl = (url: string): string | undefined => {
  if (!/^https?:\/\//i.test(url)) return undefined
  try {
    return new URL(url).host
  } catch {
    return undefined
  }
}

/** The response refusing `request`, if it is refused: a `Host` not allowed first, then `authorize`. */
const admission = (request: ServerRequest, own: Serving) =>
  Effect.gen(function*() {
    const host = access.hostnameOf(request.headers["host"] ?? hostOfUrl(request.originalUrl))
    if (!access.hostAllowed(host, own.settings.allowedHosts)) {
      return Option.some(HttpServerResponse.text("host not allowed", { status: 403 }))
    }
    if (own.authorize === undefined) return Option.none()
    // Fails closed: an authorize that fails or dies refuses.
    const decision = yield* Effect.matchCause(own.authorize(request), {
      onFailure: (): Access => "forbidden",
      onSuccess: (access) => access
    })
    switch (decision) {
      case "allow":
        return Option.none()
      case "unauthenticated":
        return Option.some(
          HttpServerResponse.text("unauthenticated", {
            status: 401,
            headers: { "www-authenticate": own.settings.challenge }
          })
        )
      default:
        return Option.some(HttpServerResponse.text("forbidden", { status: 403 }))
    }
  })

export const secure = <R>(
  handler: (serving: Serving, dashboard: Dashboard) => Effect.Effect<ServerResponse, never, R>,
  cacheControl = "no-store"
) =>
  Effect.gen(function*() {
    const dashboard = yield* Dashboard
    const own = yield* servingOf(dashboard)
    const request = yield* ServerRequest
    const refusal = yield* admission(request, own)
    return Option.isSome(refusal) ? refusal.value : yield* handler(own, dashboard)
  }).pipe(
    Effect.matchCauseEffect({
      onFailure: (cause) =>
        isInterruptOnly(cause)
          ? Effect.failCause(cause)
          : Effect.succeed(HttpServerResponse.text("internal error", { status: 500 })),
      onSuccess: Effect.succeed
    }),
    Effect.map((response) =>
      HttpServerResponse.setHeaders(response, {
        ...access.securityHeaders,
        "cache-control": response.status === 200 ? cacheControl : "no-store"
      })
    )
  )

export const sse = secure((own) =>
  Effect.map(own.watch, (stream): ServerResponse =>
    Option.isNone(stream)
      ? HttpServerResponse.text("too many viewers", {
        status: 503,
        headers: { "retry-after": "10" }
      })
      : HttpServerResponse.stream(stream.value, {
        contentType: "text/event-stream",
        headers: { "x-accel-buffering": "no" }
      }))
)

export const assetRoute = secure(() =>
  Effect.flatMap(routeParams, (params) => {
    const name = params["file"] ?? ""
    if (!assetNames.includes(name)) return Effect.succeed(HttpServerResponse.text("no such asset", { status: 404 }))
    return Effect.map(asset(name), (file) => HttpServerResponse.text(file.body, { contentType: file.contentType }))
  }), "private, max-age=3600")

export const metricsRoute = secure(() =>
  Effect.flatMap(
    Effect.serviceOption(Prometheus.Prometheus),
    Option.match({
      onNone: () => Effect.succeed(HttpServerResponse.text("no Prometheus service is provided", { status: 404 })),
      onSome: (prometheus) => Effect.provideService(Prometheus.httpApp, Prometheus.Prometheus, prometheus)
    })
  )
)
