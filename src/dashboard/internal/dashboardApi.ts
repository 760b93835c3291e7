/**
 * The dashboard's vocabulary: the document it shows and its guard views, its options, its service
 * interface (with its Context tag) and the recordings a report shows. Below both the routes
 * (`dashboardRoutes.ts`) and the public `Dashboard` module, which re-exports all of it.
 *
 * @internal
 */
import { type DurationInput, serviceKey } from "#port"
import type { ServerRequest } from "#port/httpServer"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Health from "../../observability/Health.js"
import type * as Snapshot from "../../observability/Snapshot.js"
import type { Guard } from "../../registry/Registry.js"
import type * as figures from "./dashboardFigures.js"
import type * as timeline from "./dashboardTimeline.js"

/**
 * One guard as the dashboard shows it: the `Snapshot` shape, open to any `kind`. Guards that are not
 * a `Registry.Guard` (a retry budget, your own) are shown by giving their view in `extras`.
 *
 * @example
 * ```ts
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * const pool: Dashboard.GuardView = {
 *   kind: "ConnectionPool",
 *   name: "db",
 *   status: "UP",
 *   configuration: { maxConnections: 20 },
 *   metrics: { busy: 3, idle: 17 }
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface GuardView {
  readonly kind: string
  readonly name: string
  readonly state?: string | undefined
  readonly status: Health.Status
  readonly configuration: Readonly<Record<string, number | string | boolean>>
  readonly metrics: Readonly<Record<string, number>>
}

/**
 * A guard's change of state (a breaker's `StateTransition` event), at its `Clock` time.
 *
 * @example
 * ```ts
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * const line = (t: Dashboard.Transition) => `${t.name}: ${t.from} -> ${t.to}`
 * ```
 *
 * @since 0.1.0
 */
export type Transition = figures.Transition

/**
 * What the page shows at one moment. `failures`, `traffic` and `calls` are cumulative counters (the
 * page plots their rates): failures by reason, load by stage (offered first, delivered last), and the
 * calls the failures are out of.
 *
 * @example
 * ```ts
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * const refusedFast = (d: Dashboard.Document) => (d.failures["circuitOpen"] ?? 0) + (d.failures["rateLimited"] ?? 0)
 * ```
 *
 * @since 0.1.0
 */
export interface Document {
  readonly title: string
  /** `Clock` time, epoch millis. */
  readonly at: number
  readonly status: Health.Status
  readonly guards: ReadonlyArray<GuardView>
  readonly failures: Readonly<Record<string, number>>
  readonly traffic: Readonly<Record<string, number>>
  readonly calls: number
  /** The last state changes seen in the guards' events since the dashboard first showed them. */
  readonly transitions: ReadonlyArray<Transition>
  /** The HTTP edges of {@link Options.http}, when given (see `Snapshot.HttpEdges`). */
  readonly http?: Snapshot.HttpEdges | undefined
  /**
   * In the documents sent to the page (event stream, snapshot route): the figures the charts plot,
   * as kept in the dashboard's long history (see {@link TimelinePoint}).
   */
  readonly point?: TimelinePoint | undefined
}

/**
 * One point of the charts' history: the document's time, its cumulative counters (failures by
 * reason, calls, load, responses by class out and in) and its gauges (worst latency percentiles out
 * and in, pool use, permits per limiter, state per breaker as 0 closed, 1 half-open, 2 open). Served
 * by `GET /breakwater/timeline` for the whole window (2 minutes at full resolution, then 10-second
 * buckets to 15 minutes, then 1-minute buckets to an hour), so a page opened mid-incident sees what
 * happened before.
 *
 * @example
 * ```ts
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * const open = (p: Dashboard.TimelinePoint) => Object.entries(p.breakers).filter(([, s]) => s === 2).map(([n]) => n)
 * ```
 *
 * @since 0.3.0
 */
export type TimelinePoint = timeline.Point

/**
 * What a request for a dashboard route is told by {@link Options.authorize}: `"allow"` serves it,
 * `"unauthenticated"` answers 401 (with `WWW-Authenticate` from {@link Options.challenge}), `"forbidden"`
 * answers 403.
 *
 * @example
 * ```ts
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * const decide = (token: string | undefined): Dashboard.Access =>
 *   token === undefined ? "unauthenticated" : token === "s3cret" ? "allow" : "forbidden"
 * ```
 *
 * @since 0.1.0
 */
export type Access = "allow" | "unauthenticated" | "forbidden"

/**
 * Where the dashboard takes what it shows, how often, and who may see it. Every field is optional.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * let refused = 0
 * const options: Dashboard.Options = {
 *   title: "checkout → payments",
 *   failures: Effect.sync(() => ({ circuitOpen: refused })),
 *   interval: "500 millis",
 *   authorize: (request) => Effect.succeed(request.headers["authorization"] === "Bearer s3cret" ? "allow" : "unauthenticated"),
 *   allowedHosts: ["ops.example.com"],
 *   redact: { names: true, configuration: true }
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  /** The page's title, fixed or read with each document. Default `"breakwater"`. */
  readonly title?: string | Effect.Effect<string>
  /** The guards to show. Default: the `Metrics.Collector`'s guards when there is one, else none. */
  readonly guards?: Effect.Effect<ReadonlyArray<Guard>>
  /** More views to show after the guards (retry budgets with {@link viewOfBudget}, your own). */
  readonly extras?: Effect.Effect<ReadonlyArray<GuardView>>
  /** Failed calls by reason, cumulative. Default: read from the guards (see the module's Gotchas). */
  readonly failures?: Effect.Effect<Readonly<Record<string, number>>>
  /** Load by stage, cumulative, offered first. Default: calls offered to the breakers, and let through. */
  readonly traffic?: Effect.Effect<Readonly<Record<string, number>>>
  /** Calls the failures are out of, cumulative. Default: the first `traffic` figure. */
  readonly calls?: Effect.Effect<number>
  /**
   * What has HTTP edges to show (a `ResilientHttpClient`, a `RateLimitMiddleware`), read with each
   * document: per outbound target latency, responses, refusals and pool; per inbound policy latency,
   * responses, refusals and live keys. Their refusals for an exhausted pool are added to the default
   * breakdown as "pool exhausted". Default none.
   */
  readonly http?: Effect.Effect<ReadonlyArray<Health.HttpSource>>
  /**
   * How often a document is computed and sent on `/breakwater/events`: once per interval for all
   * viewers together (the snapshot route reuses it too). Default 1 second; finite, at least 1 ms.
   */
  readonly interval?: DurationInput
  /**
   * Documents kept (one per `interval`, taken in the background) and sent first to a page that
   * connects, so that its charts start with the recent past. Default 300; 0 keeps none, and then
   * documents are computed only while someone watches the event stream.
   */
  readonly history?: number
  /**
   * Bytes of encoded documents the history may hold, oldest dropped first. Default 4 MiB (the 300
   * documents of about 50 guards); 0 keeps none.
   */
  readonly maxHistoryBytes?: number
  /**
   * Viewers of `/breakwater/events` at once; past it the route answers 503 with `Retry-After`.
   * Default 20; 0 turns the event stream off. A viewer that reads slower than documents come skips
   * documents (it is sent the newest ones): nothing is buffered per viewer beyond two shared documents.
   */
  readonly maxViewers?: number
  /**
   * Decides, for each request to every route of {@link router} (page, assets, snapshot, events,
   * health, `/metrics`), whether it is served: check a header, a token, a client certificate. A
   * failure or defect refuses (403). Default: every request that passes `allowedHosts` is served.
   */
  readonly authorize?: (request: ServerRequest) => Effect.Effect<Access, unknown>
  /** The `WWW-Authenticate` header of a 401. Default `Bearer realm="breakwater"`. */
  readonly challenge?: string
  /**
   * Host names answered besides those always answered, against DNS rebinding. Always answered: IP
   * literals (the address the server is bound to among them: Node reports a bound name as its
   * address, and a rebinding page cannot send an IP literal as its `Host`), `localhost` and
   * `*.localhost`. Add a name (`"ops.example.com"`), a domain with its subdomains (`".example.com"`),
   * or `"*"` for any. Other `Host` headers, and none, are answered 403. Default none.
   */
  readonly allowedHosts?: ReadonlyArray<string>
  /**
   * Hides what the snapshot, the events and the health route show: `configuration` sends every
   * guard's configuration as `{}`; `names` replaces guard names (HTTP targets' host names among them)
   * with stable pseudonyms (`guard-<hmac>`, keyed per dashboard); `true` both. Default `false`.
   * `/metrics` is not redacted (its labels are the names): mount it elsewhere when names are secret.
   */
  readonly redact?: boolean | { readonly configuration?: boolean; readonly names?: boolean }
}

/**
 * A running dashboard: its current document, its history, and its viewers.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Dashboard from "breakwater/Dashboard"
 *
 * const open = Effect.map(
 *   Effect.flatMap(Dashboard.Dashboard, (dashboard) => dashboard.document),
 *   (document) => document.guards.filter((g) => g.state === "Open").map((g) => g.name)
 * )
 * ```
 *
 * @since 0.1.0
 */
export interface Dashboard {
  /** A fresh document (computed on each use, never redacted: for the program itself). */
  readonly document: Effect.Effect<Document>
  /** The guards' health (extras left out). */
  readonly health: Effect.Effect<Health.Health>
  readonly interval: Duration.Duration
  /** The documents kept (see {@link Options.history}), oldest first, as sent (redacted if asked). */
  readonly history: Effect.Effect<ReadonlyArray<Document>>
  /** Viewers of the event stream now. */
  readonly viewers: Effect.Effect<number>
  /** The charts' long history (see {@link TimelinePoint}), oldest first; empty without a history. */
  readonly timeline: Effect.Effect<ReadonlyArray<TimelinePoint>>
  /** What the histories hold now: encoded documents (count, bytes) and timeline points. */
  readonly footprint: Effect.Effect<{
    readonly historyFrames: number
    readonly historyBytes: number
    readonly timelinePoints: number
  }>
}

/**
 * The dashboard as a service, read by {@link router}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Dashboard from "breakwater/Dashboard"
 *
 * const title = Effect.flatMap(Dashboard.Dashboard, (d) => Effect.map(d.document, (doc) => doc.title))
 * ```
 *
 * @since 0.1.0
 */
export const Dashboard = serviceKey<Dashboard>("breakwater/Dashboard")

/**
 * One run recorded for {@link report}: its label and the documents taken during it, oldest first.
 *
 * @example
 * ```ts
 * import type * as Dashboard from "breakwater/Dashboard"
 *
 * const empty: Dashboard.Recording = { label: "baseline", documents: [] }
 * ```
 *
 * @since 0.1.0
 */
export interface Recording {
  readonly label: string
  readonly documents: ReadonlyArray<Document>
}
