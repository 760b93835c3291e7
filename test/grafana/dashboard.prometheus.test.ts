/**
 * The Grafana dashboard (grafana/breakwater.json) against a real Prometheus: Prometheus scrapes the
 * demo's `/metrics` every second while the demo's live engine runs its protected scenario on real
 * loopback HTTP, once with the guards' metrics under the `breakwater` prefix and once under
 * `resilience4j`; then every query of every panel, with the dashboard's variables substituted as
 * Grafana would, goes through Prometheus' HTTP API (`/api/v1/query`, at the time of the run's last
 * successful scrape) and must return at least one series. The variables' own queries
 * (`label_values`) must return values too. The families scraped, with their label names, must be
 * exactly those listed here: the same file runs on both Effects, so both expose the same names.
 *
 * An "edge" server and client in the same process (./edgeTraffic.ts) add inbound 429s, pool
 * exhaustion, timeouts and 500s to the same `/metrics` whatever phase the demo's short run is in, so
 * every panel's query has series to return; a query that returns none fails.
 *
 * Runs under CI=true always (a missing prometheus fails); elsewhere it is skipped, with a notice,
 * without /usr/bin/prometheus. The queries and what they returned are written to
 * .artifacts/grafana-queries.txt.
 */
import { Effect, Fiber } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import * as Live from "../../demo/live.js"
import * as Scenario from "../../demo/scenario.js"
import * as PrometheusServer from "../helpers/prometheusServer.js"
import * as EdgeTraffic from "./edgeTraffic.js"

const root = path.resolve(import.meta.dirname, "../..")
const dashboard = JSON.parse(fs.readFileSync(path.join(root, "grafana/breakwater.json"), "utf8")) as Dashboard

const available = PrometheusServer.hasPrometheus()
const mustRun = process.env["CI"] === "true"
if (!available && !mustRun) {
  console.warn(`grafana dashboard test skipped: ${PrometheusServer.prometheusBinary} is missing (.ci/run installs it)`)
}

interface Target {
  readonly refId: string
  readonly expr: string
  readonly legendFormat?: string
  readonly datasource?: { readonly type: string; readonly uid: string }
}
interface Panel {
  readonly type: string
  readonly title: string
  readonly datasource?: { readonly type: string; readonly uid: string }
  readonly targets?: ReadonlyArray<Target>
  readonly panels?: ReadonlyArray<Panel>
}
interface Variable {
  readonly name: string
  readonly type: string
  readonly query: unknown
  readonly definition?: string
  readonly allValue?: string
  readonly includeAll?: boolean
  readonly options?: ReadonlyArray<{ readonly value: string }>
}
interface Dashboard {
  readonly schemaVersion: number
  readonly uid: string
  readonly __inputs: ReadonlyArray<{ readonly name: string; readonly type: string; readonly pluginId: string }>
  readonly panels: ReadonlyArray<Panel>
  readonly templating: { readonly list: ReadonlyArray<Variable> }
}

/** Every panel, those inside (collapsed) rows included. */
const allPanels = (panels: ReadonlyArray<Panel>): ReadonlyArray<Panel> =>
  panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])])

const queries = allPanels(dashboard.panels).flatMap((panel) =>
  (panel.targets ?? []).map((target) => ({ panel: panel.title, refId: target.refId, expr: target.expr }))
)

const variable = (name: string): Variable => {
  const found = dashboard.templating.list.find((v) => v.name === name)
  if (found === undefined) throw new Error(`the dashboard has no variable ${name}`)
  return found
}

/**
 * What Grafana sends for the dashboard's variables: the chosen prefix, "All" of a multi-value query
 * variable as its `allValue`, and `$__rate_interval` as Grafana computes it for a 1 s scrape interval
 * (four scrapes) with some margin for a loaded machine.
 */
const substitute = (expr: string, prefix: string): string => {
  const values: Record<string, string> = {
    prefix,
    client: variable("client").allValue ?? ".*",
    policy: variable("policy").allValue ?? ".*",
    __rate_interval: "10s"
  }
  // Unknown names (a regex back-reference such as label_replace's "${1}") are left alone, as Grafana does.
  return expr.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (whole, braced?: string, bare?: string) => values[braced ?? bare!] ?? whole
  )
}

/** The `label_values(metric, label)` queries of the dashboard's query variables. */
const labelValueQueries = dashboard.templating.list.filter((v) => v.type === "query").map((v) => {
  const match = /^label_values\((.+),\s*(\w+)\)$/.exec(v.definition ?? "")
  if (match === null) throw new Error(`variable ${v.name}: not a label_values query: ${v.definition}`)
  return { variable: v.name, metric: match[1]!, label: match[2]! }
})

const scenario = Scenario.make({ durationMillis: 8_000, rate: 20 })

/** A histogram's three Prometheus families: buckets (with `le`), count and sum. */
const histogram = (name: string, labels: string): Record<string, string> => ({
  [`${name}_bucket`]: [labels, "le"].join(",").split(",").sort().join(","),
  [`${name}_count`]: labels,
  [`${name}_sum`]: labels
})

/**
 * Every metric family on the demo's `/metrics` (edge traffic included) as Prometheus stores it, with
 * its label names, sorted (`job` and `instance` aside). The guards' families are under the prefix and
 * the HTTP edges' under `breakwater_http_`. This file runs on both Effects, so this one list checks that
 * both targets expose the same names and labels, including those no panel reads. Left out: Prometheus'
 * own families (`up`, `scrape_*`) and Effect's runtime metrics (`effect_*`). Effect 3 reports its
 * runtime metrics without being asked; Effect 4 reports them only under
 * `Metric.enableRuntimeMetricsLayer`, and as `child_fibers_*`.
 */
const families = (prefix: string): Record<string, string> => ({
  [`${prefix}_bulkhead_available_concurrent_calls`]: "name",
  [`${prefix}_bulkhead_max_allowed_concurrent_calls`]: "name",
  [`${prefix}_bulkhead_rejected_calls_total`]: "name",
  [`${prefix}_circuitbreaker_buffered_calls`]: "kind,name",
  ...histogram(`${prefix}_circuitbreaker_calls_seconds`, "kind,name"),
  [`${prefix}_circuitbreaker_failure_rate`]: "name",
  [`${prefix}_circuitbreaker_not_permitted_calls_total`]: "name",
  [`${prefix}_circuitbreaker_slow_call_rate`]: "name",
  [`${prefix}_circuitbreaker_slow_calls`]: "kind,name",
  [`${prefix}_circuitbreaker_state`]: "name,state",
  [`${prefix}_ratelimiter_available_permissions`]: "name",
  [`${prefix}_ratelimiter_calls_total`]: "kind,name",
  [`${prefix}_ratelimiter_waiting_threads`]: "name",
  [`${prefix}_retry_budget_refusals_total`]: "name",
  [`${prefix}_retry_calls_total`]: "kind,name",
  [`${prefix}_timelimiter_calls_total`]: "kind,name",
  breakwater_http_client_failures_total: "client,reason,target",
  breakwater_http_client_pool_connections: "client,origin,state",
  breakwater_http_client_pool_queued_requests: "client,origin",
  breakwater_http_client_refusals_total: "client,reason,target",
  ...histogram("breakwater_http_client_request_duration_seconds", "client,target"),
  breakwater_http_client_responses_total: "client,code,target",
  breakwater_http_server_live_keys: "policy",
  breakwater_http_server_refusals_total: "key_class,policy,reason",
  ...histogram("breakwater_http_server_request_duration_seconds", "policy,route"),
  breakwater_http_server_responses_total: "code,policy,route"
})

/** The families (and their label names) of `series`, as `families` lists them. */
const scrapedFamilies = (series: ReadonlyArray<Readonly<Record<string, string>>>): Record<string, string> => {
  const labels = new Map<string, Set<string>>()
  for (const { __name__: name, ...rest } of series) {
    if (name === undefined || /^(up|scrape_.*|effect_.*)$/.test(name)) continue
    const names = labels.get(name) ?? new Set<string>()
    for (const label of Object.keys(rest)) if (label !== "job" && label !== "instance") names.add(label)
    labels.set(name, names)
  }
  return Object.fromEntries(Array.from(labels, ([name, names]) => [name, Array.from(names).sort().join(",")]))
}

interface Outcome {
  readonly prefix: string
  readonly what: string
  readonly query: string
  readonly series: number
  readonly sample?: string
  readonly error?: string
}

/**
 * Runs the demo with `prefix` on `port` (the target of Prometheus' job named after the prefix) to its
 * end, then runs every query at the time of the run's last complete scrape: its late phase, the
 * scenario's failures within the rate window. Evaluating at that scrape's own timestamp
 * makes the answer independent of a later scrape failing on a loaded machine (which would mark every
 * series of the target stale "now").
 */
const runAndQuery = async (
  prometheus: PrometheusServer.PrometheusServer,
  prefix: string,
  port: number
): Promise<{ readonly outcomes: ReadonlyArray<Outcome>; readonly families: Record<string, string> }> => {
  // real clock: the demo runs on real sockets for scenario.durationMillis (8 s) while Prometheus
  // scrapes it every second.
  await Effect.runPromise(Effect.scoped(Live.run({
    scenario,
    modes: ["protected"],
    dashboard: { port },
    metricsPrefix: prefix
  })))
  // The demo drops its guards' and its client's series when its run ends, a moment before /metrics
  // closes: the scrape to query at is the last one that still has them.
  const timestamps = async (selector: string) =>
    new Set((await prometheus.samples(selector, "1m")).map(([time]) => time))
  const successful = new Set(
    (await prometheus.samples(`up{job="${prefix}"}`, "1m")).filter(([, up]) => up === "1").map(([time]) => time)
  )
  const present = await Promise.all([
    `${prefix}_bulkhead_max_allowed_concurrent_calls{job="${prefix}"}`,
    `${prefix}_circuitbreaker_state{job="${prefix}", state="closed"}`,
    `breakwater_http_client_request_duration_seconds_count{job="${prefix}", client="dependency"}`
  ].map(timestamps))
  const scrapes = Array.from(successful).filter((time) => present.every((times) => times.has(time))).sort((a, b) =>
    a - b
  )
  if (scrapes.length < 5) {
    throw new Error(`only ${scrapes.length} complete scrapes of the ${prefix} demo:\n${prometheus.log()}`)
  }
  const at = scrapes[scrapes.length - 1]!
  const jobs = [
    ...queries.map((q) => ({
      what: `${q.panel} [${q.refId}]`,
      query: substitute(q.expr, prefix),
      run: (query: string) =>
        prometheus.query(query, at).then((series) => ({ series: series.length, sample: series[0] }))
    })),
    ...labelValueQueries.map((v) => ({
      what: `variable ${v.variable}`,
      query: `label_values(${v.metric}, ${v.label})`,
      run: () =>
        prometheus.labelValues(v.label, v.metric, at - 60, at).then((values) => ({
          series: values.length,
          sample: values
        }))
    }))
  ]
  const outcomes: Array<Outcome> = []
  for (const job of jobs) {
    try {
      const { sample, series } = await job.run(job.query)
      outcomes.push({ prefix, what: job.what, query: job.query, series, sample: JSON.stringify(sample) })
    } catch (error) {
      outcomes.push({ prefix, what: job.what, query: job.query, series: 0, error: String(error) })
    }
  }
  const families = scrapedFamilies(await prometheus.series(`{job="${prefix}"}`, at - 60, at))
  return { outcomes, families }
}

describe("Grafana dashboard", () => {
  it("is an importable dashboard on a Prometheus data source, the prefix chosen by a variable", () => {
    expect(dashboard.schemaVersion).toBe(42)
    expect(dashboard.uid).toBe("breakwater")
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: "DS_PROMETHEUS", pluginId: "prometheus" })])
    expect(variable("datasource")).toMatchObject({ type: "datasource", query: "prometheus" })
    expect(variable("prefix").options?.map((option) => option.value)).toEqual(["breakwater", "resilience4j"])
    for (const panel of allPanels(dashboard.panels).filter((p) => p.type !== "row")) {
      expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: "${datasource}" })
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0)
      for (const target of panel.targets ?? []) {
        expect(target.datasource, panel.title).toEqual({ type: "prometheus", uid: "${datasource}" })
      }
    }
    // The guards' names always go through the prefix variable; only the HTTP families are fixed.
    for (const { expr, panel } of queries) {
      expect(expr, panel).not.toMatch(
        /(breakwater|resilience4j)_(circuitbreaker|ratelimiter|bulkhead|retry|timelimiter)/
      )
    }
    // One panel (at least) per question of the operator's screen.
    const titles = allPanels(dashboard.panels).map((panel) => panel.title).join("\n")
    for (
      const question of [
        /why calls failed/i,
        /outbound latency/i,
        /inbound latency/i,
        /outbound responses by class/i,
        /inbound responses by class/i,
        /connection pool/i,
        /available permissions/i,
        /circuit breaker state/i,
        /retr/i
      ]
    ) expect(titles).toMatch(question)
  })

  it.skipIf(!available && !mustRun)(
    "every panel's query returns series from a real Prometheus scraping the demo, under both prefixes",
    async () => {
      expect(available, `${PrometheusServer.prometheusBinary} is missing (.ci/run installs it)`).toBe(true)
      const ports = { breakwater: await PrometheusServer.freePort(), resilience4j: await PrometheusServer.freePort() }
      const prometheus = await PrometheusServer.start({
        breakwater: `127.0.0.1:${ports.breakwater}`,
        resilience4j: `127.0.0.1:${ports.resilience4j}`
      })
      const edge = Effect.runFork(Effect.scoped(Effect.andThen(EdgeTraffic.start, Effect.never)))
      const outcomes: Array<Outcome> = []
      const scraped: Record<string, Record<string, string>> = {}
      try {
        for (const prefix of ["breakwater", "resilience4j"] as const) {
          const run = await runAndQuery(prometheus, prefix, ports[prefix])
          outcomes.push(...run.outcomes)
          scraped[prefix] = run.families
        }
      } finally {
        await Effect.runPromise(Fiber.interrupt(edge))
        await prometheus.stop()
      }
      const status = (o: Outcome) => o.series > 0 ? "ok     " : "EMPTY  "
      const report = outcomes.map((o) =>
        `${status(o)} ${o.prefix.padEnd(12)} ${o.what}\n      ${o.query}\n      ` +
        (o.error ?? `${o.series} series, first: ${o.sample}`)
      ).join("\n")
      fs.mkdirSync(path.join(root, ".artifacts"), { recursive: true })
      fs.writeFileSync(path.join(root, ".artifacts", "grafana-queries.txt"), report + "\n")
      expect(outcomes).toHaveLength(2 * (queries.length + labelValueQueries.length))
      const failed = outcomes.filter((o) => o.series === 0)
      expect(failed, report).toEqual([])
      for (const prefix of ["breakwater", "resilience4j"]) {
        expect(scraped[prefix], `${prefix}: the families on /metrics`).toEqual(families(prefix))
      }
    },
    60_000
  )
})
