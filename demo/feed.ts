/**
 * What the dashboard and the progress line read: the run in progress, whichever it is.
 */
import type { Dashboard } from "breakwater"
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
}

export class DashboardFeed {
  private current: Live | undefined

  /** Follows `live` until the scope closes. */
  follow(live: Live): Effect.Effect<void, never, Scope.Scope> {
    return Effect.acquireRelease(Effect.sync(() => (this.current = live)), () =>
      Effect.sync(() => {
        if (this.current === live) this.current = undefined
      }))
  }

  options(): Dashboard.Options {
    return {
      title: Effect.sync(() =>
        this.current === undefined ? "breakwater demo" : `breakwater demo: ${this.current.mode} run`
      ),
      guards: Effect.suspend(() => this.current?.server.guards ?? Effect.succeed([])),
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
      calls: Effect.sync(() => this.current?.server.received() ?? 0)
    }
  }

  readonly progressLine: Effect.Effect<string> = Effect.gen(this, function*() {
    const live = this.current
    if (live === undefined) return "starting"
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
}
