/**
 * A real Prometheus (Debian's `prometheus` package; `.ci/run` installs it when missing) for the Grafana
 * dashboard's test: started on a free loopback port with a generated configuration (one scrape job per
 * target, every second), its storage in a temporary directory, stopped and removed by `stop`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { freePort } from "./freePort.js"

export { freePort }

export const prometheusBinary = "/usr/bin/prometheus"

export const hasPrometheus = (): boolean => fs.existsSync(prometheusBinary)

/** One vector of an instant query's answer. */
export interface Sample {
  readonly metric: Readonly<Record<string, string>>
  readonly value: readonly [number, string]
}

export interface PrometheusServer {
  readonly url: string
  /**
   * Runs an instant query (`/api/v1/query`) at `time` (seconds since the epoch; default now); throws
   * with Prometheus' error when it refuses it.
   */
  readonly query: (promql: string, time?: number) => Promise<ReadonlyArray<Sample>>
  /** The raw samples (time in seconds, value) of the one series `selector` names, over the last `window`. */
  readonly samples: (selector: string, window: string) => Promise<ReadonlyArray<readonly [number, string]>>
  /** The values of `label` among the series matching `match` from `start` to `end` (`/api/v1/label/.../values`). */
  readonly labelValues: (label: string, match: string, start: number, end: number) => Promise<ReadonlyArray<string>>
  /** The label sets (`__name__` included) of the series matching `match` from `start` to `end` (`/api/v1/series`). */
  readonly series: (
    match: string,
    start: number,
    end: number
  ) => Promise<ReadonlyArray<Readonly<Record<string, string>>>>
  /** Everything Prometheus logged (for failure messages). */
  readonly log: () => string
  readonly stop: () => Promise<void>
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** The configuration: scrape `targets` (job name → `host:port`) every second at `/metrics`. */
const configuration = (targets: Readonly<Record<string, string>>): string =>
  [
    "global:",
    "  scrape_interval: 1s",
    "  scrape_timeout: 1s",
    "  evaluation_interval: 1s",
    "scrape_configs:",
    ...Object.entries(targets).flatMap(([job, target]) => [
      `  - job_name: ${JSON.stringify(job)}`,
      "    metrics_path: /metrics",
      "    static_configs:",
      `      - targets: [${JSON.stringify(target)}]`
    ])
  ].join("\n") + "\n"

/** Starts Prometheus scraping `targets` and resolves once it answers `/-/ready`. */
export const start = async (targets: Readonly<Record<string, string>>): Promise<PrometheusServer> => {
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "breakwater-prometheus-"))
  const configFile = path.join(dir, "prometheus.yml")
  fs.writeFileSync(configFile, configuration(targets))
  let output = ""
  const child: ChildProcess = spawn(prometheusBinary, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${path.join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--storage.tsdb.retention.time=1h",
    "--log.level=warn"
  ], { stdio: ["ignore", "pipe", "pipe"] })
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const url = `http://127.0.0.1:${port}`

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM")
      const killer = setTimeout(() => child.kill("SIGKILL"), 3_000)
      await exited
      clearTimeout(killer)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }

  const api = async (pathAndQuery: string): Promise<unknown> => {
    const response = await fetch(`${url}${pathAndQuery}`)
    const body = await response.json() as { status: string; data?: unknown; error?: string; errorType?: string }
    if (body.status !== "success") {
      throw new Error(`Prometheus refused ${pathAndQuery}: ${body.errorType}: ${body.error}`)
    }
    return body.data
  }

  const query = async (promql: string, time?: number) => {
    const at = time === undefined ? "" : `&time=${time}`
    const data = await api(`/api/v1/query?query=${encodeURIComponent(promql)}${at}`) as {
      resultType: string
      result: ReadonlyArray<Sample>
    }
    if (data.resultType !== "vector") throw new Error(`${promql}: a ${data.resultType}, not a vector`)
    return data.result
  }

  const samples = async (selector: string, window: string) => {
    const data = await api(`/api/v1/query?query=${encodeURIComponent(`${selector}[${window}]`)}`) as {
      result: ReadonlyArray<{ readonly values: ReadonlyArray<readonly [number, string]> }>
    }
    if (data.result.length > 1) throw new Error(`${selector} names ${data.result.length} series`)
    return data.result[0]?.values ?? []
  }

  const labelValues = async (label: string, match: string, start: number, end: number) =>
    await api(
      `/api/v1/label/${encodeURIComponent(label)}/values?match[]=${encodeURIComponent(match)}&start=${start}&end=${end}`
    ) as ReadonlyArray<string>

  const series = async (match: string, start: number, end: number) =>
    await api(
      `/api/v1/series?match[]=${encodeURIComponent(match)}&start=${start}&end=${end}`
    ) as ReadonlyArray<Readonly<Record<string, string>>>

  // real clock: a child process starting up; polled every 100 ms, for at most 20 s.
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) {
      await stop()
      throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`)
    }
    const ready = await fetch(`${url}/-/ready`).then((response) => response.ok, () => false)
    if (ready) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`prometheus was not ready on ${url} within 20 s:\n${output}`)
    }
    await sleep(100)
  }
  return { url, query, samples, labelValues, series, log: () => output, stop }
}
