/**
 * What the dashboard and the progress line read: the run in progress, whichever it is, else the last
 * one that finished (a dashboard kept open after the runs keeps showing its figures).
 */
import type { Health, Registry } from "breakwater"
import type * as Dashboard from "breakwater/Dashboard"
import { Clock, Effect, type Scope } from "effect"
import type { Dependency } from "./dependency.js"
import type { GeneratorStats } from "./loadGenerator.js"
import { failureReasons, type MyServer } from "./myServer.js"
import { type Mode, phaseAt, type Scenario } from "./scenario.js"

export interface Live {
  readonly mode: Mode
  readonly scenario: Scenario
  readonly start: number
  readonly dependency: Dependency
  readonly server: MyServer
  readonly clients: GeneratorStats
  /** More HTTP edges of the run (my server's inbound middleware), shown with the server's own. */
  readonly http?: ReadonlyArray<Health.HttpSource>
}

/** A finished run, with its guards as they were listed when it ended (the listing closes with the run). */
interface Finished {
  readonly live: Live
  readonly guards: ReadonlyArray<Registry.Guard>
}

export class DashboardFeed {
  private running: Live | undefined
  private last: Finished | undefined

  /** Follows `live` until the scope closes; then it stays shown, as finished, until the next run. */
  follow(live: Live): Effect.Effect<void, never, Scope.Scope> {
    // Released before the run's guards are: their listing still answers.
    return Effect.acquireRelease(
      Effect.sync(() => (this.running = live)),
      () =>
        Effect.flatMap(live.server.guards, (guards) =>
          Effect.sync(() => {
            if (this.running !== live) return
            this.running = undefined
            this.last = { live, guards }
          }))
    )
  }

  private get current(): Live | undefined {
    return this.running ?? this.last?.live
  }

  /** The dashboard's title: the run shown, and whether it is over. */
  get title(): string {
    if (this.running !== undefined) return `breakwater demo: ${this.running.mode} run`
    if (this.last !== undefined) return `breakwater demo: ${this.last.live.mode} run (finished)`
    return "breakwater demo"
  }

  options(): Dashboard.Options {
    return {
      title: Effect.sync(() => this.title),
      guards: Effect.suspend(() => this.running?.server.guards ?? Effect.succeed(this.last?.guards ?? [])),
      extras: Effect.suspend(() => this.current?.server.extras ?? Effect.succeed([])),
      failures: Effect.sync(() => {
        const outcomes = this.current?.server.outcomes
        return Object.fromEntries(failureReasons.map((reason) => [reason, outcomes?.[reason] ?? 0]))
      }),
      traffic: Effect.sync(() => ({
        "offered by clients": this.current?.clients.offered ?? 0,
        "received by my server": this.current?.server.received() ?? 0,
        "reached the dependency": this.current?.dependency.stats.arrivals ?? 0
      })),
      calls: Effect.sync(() => this.current?.server.received() ?? 0),
      http: Effect.sync(() => [...(this.current?.server.http ?? []), ...(this.current?.http ?? [])])
    }
  }

  readonly progressLine: Effect.Effect<string> = Effect.suspend(() =>
    this.running === undefined
      ? Effect.succeed(this.last === undefined ? "starting" : "finished")
      : progressOf(this.running)
  )
}

/** The progress line of a run in progress. */
const progressOf = (live: Live): Effect.Effect<string> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const elapsed = now - live.start
    const guards = yield* live.server.guards
    const breaker = guards.find((guard) => guard.kind === "CircuitBreaker")
    const state = breaker === undefined ? "none" : yield* (breaker as { readonly state: Effect.Effect<string> }).state
    const offered = live.clients.offered
    const arrivals = live.dependency.stats.arrivals
    return `${live.mode.padEnd(11)} ${(elapsed / 1000).toFixed(0).padStart(3)} s  ${
      phaseAt(live.scenario, elapsed).padEnd(9)
    }  offered ${String(offered).padStart(5)}  at dependency ${String(arrivals).padStart(6)} (${
      (offered === 0 ? 0 : arrivals / offered).toFixed(1)
    }x)  breaker ${state}`
  })
