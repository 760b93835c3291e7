/**
 * One target's guards, built on its first call: breaker, rate limiter, retry on a budget, attempt and
 * total time limiters, with what counts as a failure (status, transport, caller's fault) and how
 * retries are spaced (never sooner than a `Retry-After`).
 *
 * @internal
 */
import { nowMillis, shapeByInput } from "#port"
import { type HttpClientResponse, isHttpResponse, isRequestFault, isTransportFailure } from "#port/httpClient"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as CircuitBreaker from "../../guards/CircuitBreaker.js"
import * as RateLimiter from "../../guards/RateLimiter.js"
import * as Retry from "../../guards/Retry.js"
import * as RetryBudget from "../../guards/RetryBudget.js"
import * as TimeLimiter from "../../guards/TimeLimiter.js"
import type * as Metrics from "../../observability/Metrics.js"
import type { Guard } from "../../registry/Registry.js"
import { retryAfterField } from "../../shared/internal/errors.js"
import type { ClientMetrics, TargetMetrics } from "./clientMetrics.js"
import type { Options } from "./resilientHttpClientApi.js"
import { parseRetryAfter as parse } from "./retryAfter.js"

/** Statuses the breaker counts as failures. */
export const isFailureStatus = (status: number) => status >= 500 || status === 408 || status === 429

/** The request could not be built or sent (`Encode`, `InvalidUrl`): the caller's fault, not the dependency's. */
const isCallerFault = isRequestFault

/** No response: the network or the peer failed. */
export const isTransport = isTransportFailure

/** How retries are spaced: the configured delays, never shorter than a `Retry-After`. */
export class RetryShaping {
  constructor(
    readonly clock: Clock.Clock,
    readonly maxRetryAfterMillis: number,
    readonly retryStatuses: ReadonlySet<number>
  ) {}

  /** The wait a response or an error asks for before the next attempt, in millis (0 when none). */
  hintMillis(input: unknown): number {
    if (isHttpResponse(input)) {
      if (input.status !== 429 && input.status !== 503) return 0
      const hint = parse(input.headers["retry-after"], nowMillis(this.clock))
      return Option.isSome(hint) ? Duration.toMillis(hint.value) : 0
    }
    const hint = retryAfterField(input)
    return Option.isSome(hint) ? Duration.toMillis(hint.value) : 0
  }

  /** The retry delays: the configured ones, never shorter than a `Retry-After`; none past the cap. */
  schedule(base: Schedule.Schedule<unknown, unknown>): Schedule.Schedule<unknown, unknown> {
    return shapeByInput(
      base,
      (input) => this.hintMillis(input) <= this.maxRetryAfterMillis,
      (input) => this.hintMillis(input)
    )
  }
}

/** One target's guards and figures. */
export interface Target {
  readonly key: string
  readonly breaker: CircuitBreaker.CircuitBreaker<unknown, HttpClientResponse.HttpClientResponse> | undefined
  readonly limiter: RateLimiter.RateLimiter | undefined
  readonly retry: Retry.Retry<unknown, HttpClientResponse.HttpClientResponse> | undefined
  readonly budget: RetryBudget.RetryBudget | undefined
  readonly attemptTimeout: TimeLimiter.TimeLimiter
  readonly totalTimeout: TimeLimiter.TimeLimiter
  readonly metrics: TargetMetrics
  pausedUntil: number
  origin: string | undefined
}

export const guardsOf = (target: Target): ReadonlyArray<Guard> => {
  const guards: Array<Guard> = []
  if (target.breaker !== undefined) guards.push(target.breaker)
  if (target.limiter !== undefined) guards.push(target.limiter)
  if (target.retry !== undefined) guards.push(target.retry)
  guards.push(target.attemptTimeout, target.totalTimeout)
  return guards
}

/** Builds one target's guards, in the target's scope. */
export const buildTarget = (
  name: string,
  key: string,
  options: Options,
  shaping: RetryShaping,
  sharedBudget: RetryBudget.RetryBudget | undefined,
  metrics: ClientMetrics,
  collector: Option.Option<Metrics.Collector>,
  tracked: boolean
): Effect.Effect<Target, never, Scope.Scope> =>
  Effect.gen(function*() {
    const guardName = `${name}:${key}`
    const breaker = options.circuitBreaker === false ? undefined : yield* CircuitBreaker.make<
      unknown,
      HttpClientResponse.HttpClientResponse
    >({
      ...options.circuitBreaker,
      name: guardName,
      ignoreError: isCallerFault,
      recordResult: (response) => isFailureStatus(response.status),
      // As Effect 4's `HttpClient.withCircuitBreaker`: the upstream's own word on how long it is down.
      retryAfter: (failure) => {
        const millis = shaping.hintMillis(failure)
        return millis > 0 ? Option.some(Duration.millis(millis)) : Option.none()
      },
      maxRetryAfter: Duration.millis(shaping.maxRetryAfterMillis)
    })
    const limiter = options.rateLimiter === undefined || options.rateLimiter === false
      ? undefined
      : yield* RateLimiter.make({ ...options.rateLimiter, name: guardName })
    if (limiter !== undefined && options.learnRateLimits === true) RateLimiter.learnFromUpstream(limiter)
    const budget = options.retryBudget === false
      ? undefined
      : sharedBudget ?? (yield* RetryBudget.make({ ...options.retryBudget, name: guardName }))
    const retry = options.retry === false ? undefined : yield* makeRetry(guardName, options, shaping, budget)
    const attemptTimeout = yield* TimeLimiter.make({
      name: `${guardName}:attempt`,
      timeoutDuration: options.attemptTimeout ?? "10 seconds"
    })
    const totalTimeout = yield* TimeLimiter.make({
      name: `${guardName}:total`,
      timeoutDuration: options.totalTimeout ?? "30 seconds"
    })
    const target: Target = {
      key,
      breaker,
      limiter,
      retry,
      budget,
      attemptTimeout,
      totalTimeout,
      metrics: metrics.forTarget(key),
      pausedUntil: 0,
      origin: undefined
    }
    // Collected (metrics, and `collector.guards` for snapshots) until the target's scope closes, and
    // its own series exported until then too. A one-call target (untracked) has neither.
    if (Option.isSome(collector)) yield* Effect.forEach(guardsOf(target), collector.value.track, { discard: true })
    if (tracked) {
      yield* Effect.acquireRelease(
        Effect.sync(() => target.metrics.register()),
        () => Effect.sync(() => target.metrics.unregister())
      )
    }
    return target
  }).pipe(Effect.orDie) // options were checked by `make`

const makeRetry = (
  name: string,
  options: Options,
  shaping: RetryShaping,
  budget: RetryBudget.RetryBudget | undefined
) => {
  const { schedule, waitDuration, ...rest } = (options.retry || {}) as Retry.Options
  const base: Schedule.Schedule<unknown, unknown> = schedule ?? Schedule.spaced(waitDuration ?? "500 millis")
  return Retry.make<unknown, HttpClientResponse.HttpClientResponse>({
    ...rest,
    name,
    schedule: shaping.schedule(base),
    retryOn: (error) => isTransport(error) || (error as { _tag?: unknown })._tag === "TimeoutExceededError",
    retryOnResult: (response) => shaping.retryStatuses.has(response.status),
    failAfterMaxAttempts: false,
    ...(budget === undefined ? {} : { budget })
  })
}
