/**
 * The scenario in virtual time: the same roles and the same guards, with the dependency called in
 * process instead of over a socket, under a virtual clock and a seeded `Random`. Same seed, same bytes.
 */
import { effectVersion, withSeed } from "#port/demo"
import { HttpClient, HttpClientResponse } from "#port/httpClient"
import * as Dashboard from "breakwater/Dashboard"
import { Clock, Effect, Schedule } from "effect"
import * as Dependency from "./dependency.js"
import { DashboardFeed } from "./feed.js"
import * as LoadGenerator from "./loadGenerator.js"
import * as MyServer from "./myServer.js"
import { describeScenario, formatTable, type RunResult, tableRows } from "./results.js"
import { type Mode, modes, type Scenario } from "./scenario.js"
import * as TestClockTime from "./testClockTime.js"
import * as VirtualTime from "./virtualTime.js"

/** A client whose requests are answered by `handle` in this process. */
export const inProcess = (handle: Effect.Effect<Dependency.Answer>): HttpClient.HttpClient =>
  HttpClient.make((request) =>
    Effect.map(
      handle,
      (answer) => HttpClientResponse.fromWeb(request, new Response(answer.body, { status: answer.status }))
    )
  )

const replyOf = (answer: Dependency.Answer): LoadGenerator.Reply => ({
  status: answer.status,
  retryAfterMillis: 1000 * (answer.retryAfterSeconds ?? 0)
})

const simulateMode = (scenario: Scenario, mode: Mode, index: number) =>
  Effect.scoped(Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const dependency = Dependency.make(scenario, start)
    const server = yield* MyServer.make(scenario, mode, inProcess(dependency.handle), "http://dependency/work")
    const clients = LoadGenerator.emptyStats()
    const feed = new DashboardFeed()
    yield* feed.follow({ mode, scenario, start, dependency, server, clients })
    const dashboard = yield* Dashboard.make({ ...feed.options(), title: `${mode} run`, history: 0 })
    const documents: Array<Dashboard.Document> = []
    // About 300 points per run whatever its length.
    const every = Math.max(1000, Math.round(scenario.durationMillis / 300 / 1000) * 1000)
    yield* Effect.forkScoped(
      Effect.repeat(
        Effect.flatMap(dashboard.document, (d) => Effect.sync(() => documents.push(d))),
        Schedule.spaced(every)
      )
    )
    yield* LoadGenerator.run(scenario, start, Effect.map(server.handle, replyOf), clients)
    documents.push(yield* dashboard.document)
    const result: RunResult = {
      mode,
      scenario,
      clients,
      outcomes: { ...server.outcomes },
      received: server.received(),
      dependencyArrivals: dependency.stats.arrivals,
      overloadAfterRecovery: dependency.overloadAfterRecovery()
    }
    return { result, recording: { label: `${mode} run`, documents } }
  })).pipe(withSeed(scenario.seed * 1000 + index))

export interface Simulation {
  readonly results: ReadonlyArray<RunResult>
  /** What `npm run simulate` prints. */
  readonly text: string
  /** The self-contained HTML report. */
  readonly html: string
}

/** `"virtual"`: the discrete-event clock (fast); `"test"`: Effect's `TestClock` (a slower cross-check). */
export type ClockKind = "virtual" | "test"

export const simulate = async (scenario: Scenario, clock: ClockKind = "virtual"): Promise<Simulation> => {
  const program = Effect.forEach(modes, (mode, index) => simulateMode(scenario, mode, index))
  const runs = clock === "virtual"
    ? await VirtualTime.run(program, scenario.seed)
    : await TestClockTime.run(program, scenario.seed)
  const results = runs.map((run) => run.result)
  const rows = tableRows(results)
  const description = describeScenario(scenario)
  const time = clock === "virtual" ? "virtual time" : "TestClock"
  const text = `breakwater simulation (${time}, seed ${scenario.seed}) on Effect ${effectVersion}: ${description}\n\n${
    formatTable(rows)
  }\n`
  const html = await Effect.runPromise(Dashboard.report({
    title: `breakwater simulation, seed ${scenario.seed}`,
    table: rows,
    notes: [description],
    recordings: runs.map((run) => run.recording)
  }))
  return { results, text, html }
}

/** What the dashboard held at one moment of a {@link soak} run. */
export interface SoakSample {
  /** Simulated millis since the start. */
  readonly elapsedMillis: number
  readonly historyFrames: number
  readonly historyBytes: number
  readonly timelinePoints: number
  /** The timeline as `GET /breakwater/timeline` sends it, in bytes (UTF-8 JSON). */
  readonly timelineBytes: number
  /** `process.memoryUsage().heapUsed` after `collect()` (a full GC when the caller can run one). */
  readonly heapUsed: number
}

/**
 * The protected run in virtual time with a dashboard as `npm start` serves it (its history kept, one
 * document a second), its footprint sampled every `sampleEveryMillis`: for the bounded-memory test of
 * long runs.
 */
export const soak = (
  scenario: Scenario,
  sampleEveryMillis: number,
  collect: () => void = () => {}
): Promise<ReadonlyArray<SoakSample>> =>
  VirtualTime.run(
    Effect.scoped(Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const dependency = Dependency.make(scenario, start)
      const server = yield* MyServer.make(scenario, "protected", inProcess(dependency.handle), "http://dependency/work")
      const clients = LoadGenerator.emptyStats()
      const feed = new DashboardFeed()
      yield* feed.follow({ mode: "protected", scenario, start, dependency, server, clients })
      const dashboard = yield* Dashboard.make(feed.options())
      const samples: Array<SoakSample> = []
      const sample = Effect.flatMap(
        Effect.all([dashboard.footprint, dashboard.timeline, Clock.currentTimeMillis]),
        ([footprint, timeline, now]) =>
          Effect.sync(() => {
            const timelineBytes = Buffer.byteLength(JSON.stringify(timeline))
            collect()
            samples.push({
              elapsedMillis: now - start,
              ...footprint,
              timelineBytes,
              heapUsed: process.memoryUsage().heapUsed
            })
          })
      )
      yield* Effect.forkScoped(Effect.repeat(sample, Schedule.spaced(sampleEveryMillis)))
      yield* LoadGenerator.run(scenario, start, Effect.map(server.handle, replyOf), clients)
      yield* sample
      return samples
    })).pipe(Effect.orDie),
    scenario.seed
  )
