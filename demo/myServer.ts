/**
 * "My server": answers its clients by calling the dependency through `ResilientHttpClient`, and
 * knows exactly why each of its calls failed. Unprotected, its client only retries (three attempts,
 * no budget), as most code does; protected, a breaker, a rate limiter and a retry budget guard the
 * dependency and a bulkhead caps the calls in flight.
 */
import type { HttpClient } from "#port/httpClient"
import type { Bulkhead as BulkheadGuard, Registry } from "breakwater"
import { Bulkhead, type Health, Metrics, RetryBudget } from "breakwater"
import * as Dashboard from "breakwater/Dashboard"
import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
import { Effect, Option, type Scope } from "effect"
import type { Answer } from "./dependency.js"
import { guardSettings, type Mode, type Scenario } from "./scenario.js"

/** Why a call of my server to the dependency ended as it did. */
export type Outcome =
  | "ok"
  | "dependencyError"
  | "timeout"
  | "circuitOpen"
  | "poolExhausted"
  | "rateLimited"
  | "bulkheadFull"

export const failureReasons: ReadonlyArray<Exclude<Outcome, "ok">> = [
  "dependencyError",
  "timeout",
  "circuitOpen",
  "poolExhausted",
  "rateLimited",
  "bulkheadFull"
]

export interface MyServer {
  readonly handle: Effect.Effect<Answer>
  /** Calls by outcome, since the start. */
  readonly outcomes: Record<Outcome, number>
  /** Requests my server received (its clients' retries included). */
  readonly received: () => number
  /** Every guard, the HTTP client's per-target ones included, for the dashboard. */
  readonly guards: Effect.Effect<ReadonlyArray<Registry.Guard>>
  /** The retry budget, shown on the dashboard beside the guards. */
  readonly extras: Effect.Effect<ReadonlyArray<Dashboard.GuardView>>
  /** The HTTP edges: the client's target (latency, codes, pool), for the dashboard. */
  readonly http: ReadonlyArray<Health.HttpSource>
}

const answerOf = (outcome: Outcome, circuitWaitSeconds: number): Answer => {
  switch (outcome) {
    case "circuitOpen":
      // The breaker will not let a call through before its wait is over: say so, as a 503 should.
      return { status: 503, body: "refused fast: circuitOpen", retryAfterSeconds: circuitWaitSeconds }
    case "ok":
      return { status: 200, body: "done" }
    case "dependencyError":
      return { status: 502, body: "the dependency failed" }
    case "timeout":
      return { status: 504, body: "the dependency timed out" }
    default:
      return { status: 503, body: `refused fast: ${outcome}` }
  }
}

const outcomeOfError = (error: unknown): Outcome =>
  Option.match(ResilientHttpClient.refusal(error), {
    onNone: () => (error as { _tag?: string })._tag === "BulkheadFullError" ? "bulkheadFull" : "dependencyError",
    onSome: (refused) =>
      refused._tag === "CallNotPermittedError"
        ? "circuitOpen"
        : refused._tag === "RequestNotPermittedError"
        ? "rateLimited"
        : refused._tag === "PoolExhaustedError"
        ? "poolExhausted"
        : "timeout"
  })

export const make = (
  scenario: Scenario,
  mode: Mode,
  http: HttpClient.HttpClient,
  dependencyUrl: string,
  /** The connection pool `http` sends through, when it is undici's (measured, and bounded when protected). */
  dispatcher?: ResilientHttpClient.Options["dispatcher"]
): Effect.Effect<MyServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = guardSettings(scenario, mode)
    const circuitWaitSeconds = settings.circuitBreaker === false
      ? 1
      : Math.ceil(settings.circuitBreaker.waitDurationInOpenState / 1000)
    const budget = settings.retryBudget === false
      ? undefined
      : yield* RetryBudget.make({ name: "dependency", ...settings.retryBudget })
    const resilience = yield* ResilientHttpClient.make({
      name: "dependency",
      // One target whatever the port: the guards' names stay the same in every run.
      key: () => "dependency",
      circuitBreaker: settings.circuitBreaker,
      rateLimiter: settings.rateLimiter,
      retry: settings.retry,
      retryBudget: budget ?? false,
      attemptTimeout: settings.attemptTimeout,
      totalTimeout: settings.totalTimeout,
      ...(dispatcher === undefined ? {} : { dispatcher, poolMetricsInterval: 250 }),
      // Calls past the pool's connections and its short queue are refused (in the simulation, where
      // calls are in process, the same count bounds them).
      ...(settings.pool === undefined
        ? {}
        : { poolConnections: settings.pool.connections, poolQueueLimit: settings.pool.queueLimit })
    })
    const bulkhead: BulkheadGuard.Bulkhead | undefined = settings.bulkhead === undefined
      ? undefined
      : yield* Bulkhead.make({ name: "my-server", ...settings.bulkhead })
    const collector = yield* Effect.serviceOption(Metrics.Collector)
    if (bulkhead !== undefined && Option.isSome(collector)) yield* collector.value.track(bulkhead)
    const client = ResilientHttpClient.wrap(http, resilience)
    const outcomes: Record<Outcome, number> = {
      ok: 0,
      dependencyError: 0,
      timeout: 0,
      circuitOpen: 0,
      poolExhausted: 0,
      rateLimited: 0,
      bulkheadFull: 0
    }
    let received = 0
    // Scoped, and the body read: the connection goes back to the pool as soon as the call is over.
    const call = Effect.scoped(Effect.flatMap(
      client.get(dependencyUrl),
      (response): Effect.Effect<Outcome> =>
        Effect.as(Effect.ignore(response.text), response.status < 400 ? "ok" : "dependencyError")
    ))
    const guarded = bulkhead === undefined ? call : Bulkhead.withBulkhead(call, bulkhead)
    const handle = Effect.suspend(() => {
      received++
      return guarded.pipe(
        // @effect/platform runs server handlers uninterruptibly (HttpApp.toHandled): without this, a
        // timeout inside could not cut a hanging call short and would fire only when the call returns.
        Effect.interruptible,
        Effect.match({ onFailure: outcomeOfError, onSuccess: (outcome) => outcome }),
        Effect.map((outcome) => {
          outcomes[outcome]++
          return answerOf(outcome, circuitWaitSeconds)
        }),
        // Our caller gave up waiting (its own timeout): for it, this call timed out.
        Effect.onInterrupt(() => Effect.sync(() => outcomes.timeout++))
      )
    })
    return {
      handle,
      outcomes,
      received: () => received,
      guards: Effect.map(resilience.guards, (guards) => bulkhead === undefined ? guards : [bulkhead, ...guards]),
      extras: budget === undefined ? Effect.succeed([]) : Effect.map(Dashboard.viewOfBudget(budget), (view) => [view]),
      http: [resilience]
    }
  }).pipe(Effect.orDie) // the settings are constants checked by the tests
