/**
 * The dashboard's feed of the demo: after the last run, the page keeps showing it, marked finished.
 */
import { forkChild, scopeProvide } from "#port"
import { itScoped, TestClock } from "#test-port"
import { describe, expect } from "@effect/vitest"
import * as Dashboard from "breakwater/Dashboard"
import { Effect, Exit, Scope } from "effect"
import * as Dependency from "../../demo/dependency.js"
import { DashboardFeed } from "../../demo/feed.js"
import * as LoadGenerator from "../../demo/loadGenerator.js"
import * as MyServer from "../../demo/myServer.js"
import * as Scenario from "../../demo/scenario.js"
import { inProcess } from "../../demo/simulation.js"

describe("dashboard feed", () => {
  itScoped("keeps showing the last run once it finished, labelled as such", () =>
    Effect.gen(function*() {
      const scenario = Scenario.make({ durationMillis: 10_000, rate: 2 })
      const feed = new DashboardFeed()
      const dashboard = yield* Dashboard.make({ ...feed.options(), history: 0 })
      expect((yield* dashboard.document).title).toBe("breakwater demo")
      expect(yield* feed.progressLine).toBe("starting")

      const run = yield* Scope.make()
      const dependency = Dependency.make(scenario, 0)
      const server = yield* MyServer.make(scenario, "protected", inProcess(dependency.handle), "http://dependency/work")
        .pipe((self) => scopeProvide(self, run))
      const clients = LoadGenerator.emptyStats()
      yield* scopeProvide(feed.follow({ mode: "protected", scenario, start: 0, dependency, server, clients }), run)
      yield* forkChild(Effect.forEach(Array.from({ length: 5 }), () => server.handle, { concurrency: 5 }))
      yield* TestClock.adjust("1 second")
      const during = yield* dashboard.document
      expect(during.title).toBe("breakwater demo: protected run")
      yield* Scope.close(run, Exit.void)

      const after = yield* dashboard.document
      expect(after.title).toBe("breakwater demo: protected run (finished)")
      expect(after.guards.map((guard) => guard.kind)).toEqual(during.guards.map((guard) => guard.kind))
      expect(after.guards.length).toBeGreaterThan(2)
      expect(after.traffic).toEqual(during.traffic)
      expect(after.failures).toEqual(during.failures)
      // 5 calls at once, 3 permits in any second (75% of a capacity of 4 a second): two refused by the rate limiter.
      expect(after.traffic).toMatchObject({ "received by my server": 5, "reached the dependency": 3 })
      expect(after.failures["rateLimited"]).toBe(2)
      const limiter = after.guards.find((guard) => guard.kind === "RateLimiter")!
      expect(limiter.metrics["failedAcquiresTotal"]).toBe(2)
      expect(yield* feed.progressLine).toBe("finished")
    }))
})
