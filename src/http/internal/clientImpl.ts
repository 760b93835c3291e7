/**
 * The call pipeline behind a `ResilientHttpClient`: each call finds its target (or one-call guards),
 * passes the pool admission and the target's `Retry-After` pause, then runs rate limiter → total
 * timeout → retry → circuit breaker → attempt timeout → the request; each attempt's response is
 * classified (learned quota, validated body, failure body read up to its cap) and measured, and a
 * timeout spent waiting for a pool connection is reported as the pool's. Also the snapshot readings.
 *
 * @internal
 */
import { type Codec, decodeUnknownEffect, failureOf, isInterruptOnly, nowMillis, type SeriesSnapshot } from "#port"
import { decodeFailure, type HttpClientRequest, type HttpClientResponse, type ResponseFailure } from "#port/httpClient"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as CircuitBreaker from "../../guards/CircuitBreaker.js"
import * as RateLimiter from "../../guards/RateLimiter.js"
import * as Retry from "../../guards/Retry.js"
import * as TimeLimiter from "../../guards/TimeLimiter.js"
import * as httpEdges from "../../observability/internal/httpEdges.js"
import type { Guard } from "../../registry/Registry.js"
import { copyWithBody, readCapped } from "./body.js"
import type { Settings } from "./clientConfig.js"
import type { ClientMetrics } from "./clientMetrics.js"
import { guardsOf, isFailureStatus, isTransport, type Target } from "./clientTargets.js"
import * as edgeFigures from "./edgeFigures.js"
import { readPool } from "./pool.js"
import { PoolAdmission } from "./poolAdmission.js"
import { AttemptTrace, traced } from "./poolWait.js"
import { parseAnnouncedQuota } from "./rateLimitHeaders.js"
import {
  type Options,
  PoolExhaustedError,
  type PoolStats,
  type Pressure,
  type Refusal,
  type ResilientHttpClient,
  ResponseBodyTooLargeError,
  type Snapshot,
  type TargetSnapshot
} from "./resilientHttpClientApi.js"
import { parseRetryAfter as parse } from "./retryAfter.js"
import type { TargetTable } from "./targetTable.js"
import { UrlPartsCache } from "./urlParts.js"

/** One call: whether its last attempt ended waiting in the pool, and how long it waited. */
interface CallTrace {
  poolWaitMillis: number | undefined
}

export class ClientImpl implements ResilientHttpClient {
  readonly retryMethods: ReadonlySet<string>
  readonly maxRetryAfterMillis: number
  /** Calls in flight per origin, when `poolQueueLimit` bounds them. */
  readonly pool: PoolAdmission | undefined
  /** Whether attempts are traced through undici's diagnostics channels (see `internal/poolWait.ts`). */
  tracesPool = false
  oneCallTargets = 0
  /** The hosts and origins of the URLs called (the key and the pool's origin of every call). */
  private readonly urls = new UrlPartsCache()

  constructor(
    readonly name: string,
    readonly settings: Settings,
    readonly options: Options,
    readonly clock: Clock.Clock,
    readonly table: TargetTable<Target>,
    readonly oneCallTarget: (key: string) => Effect.Effect<Target, never, Scope.Scope>,
    readonly metrics: ClientMetrics
  ) {
    this.retryMethods = new Set(settings.retryMethods)
    this.maxRetryAfterMillis = Duration.toMillis(settings.maxRetryAfter ?? settings.totalTimeout)
    this.pool = settings.poolQueueLimit === undefined || settings.poolConnections === undefined
      ? undefined
      : new PoolAdmission(settings.poolConnections, settings.poolQueueLimit)
  }

  /** The call's target key: the user's `key`, else the URL's host (`host`, none when it does not parse). */
  keyOf(request: HttpClientRequest.HttpClientRequest, host: string | undefined): string {
    const key = this.options.key
    // A user key function that throws must not turn a request into a defect: use the host instead.
    if (key !== undefined) {
      try {
        return key(request)
      } catch {
        // fall through to the host
      }
    }
    return host ?? "(invalid-url)"
  }

  // ---- one attempt -------------------------------------------------------------------------------

  private classify(
    target: Target,
    request: HttpClientRequest.HttpClientRequest,
    response: HttpClientResponse.HttpClientResponse
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, ResponseFailure | ResponseBodyTooLargeError> {
    if (this.settings.learnRateLimits && target.limiter !== undefined) {
      const quota = parseAnnouncedQuota((name) => response.headers[name], nowMillis(this.clock))
      if (quota !== undefined) {
        return Effect.andThen(RateLimiter.learn(target.limiter, quota), this.classifyStatus(target, request, response))
      }
    }
    return this.classifyStatus(target, request, response)
  }

  private classifyStatus(
    target: Target,
    request: HttpClientRequest.HttpClientRequest,
    response: HttpClientResponse.HttpClientResponse
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, ResponseFailure | ResponseBodyTooLargeError> {
    const status = response.status
    const schema = this.settings.validate
    if (schema !== undefined && status >= 200 && status < 300) {
      const limitBytes = this.settings.maxValidatedBodyBytes
      return Effect.flatMap(readCapped(response.stream, limitBytes), ({ bytes, complete }): Effect.Effect<
        HttpClientResponse.HttpClientResponse,
        ResponseFailure | ResponseBodyTooLargeError
      > => {
        if (!complete) {
          target.metrics.bodyTooLarge()
          return Effect.fail(
            new ResponseBodyTooLargeError({
              client: this.name,
              target: target.key,
              limitBytes,
              response: copyWithBody(request, response, new Uint8Array(0), false)
            })
          )
        }
        const copy = copyWithBody(request, response, bytes, true)
        return Effect.matchEffect(decodeJson(schema, bytes), {
          onSuccess: () => Effect.succeed(copy),
          onFailure: (cause) => {
            target.metrics.invalidBody()
            return Effect.fail(decodeFailure(request, copy, cause, "the body does not match the expected schema"))
          }
        })
      })
    }
    if (!isFailureStatus(status)) return Effect.succeed(response)
    if (status === 429 || status === 503) this.pause(target, response)
    const drain = target.limiter !== undefined && target.pausedUntil > nowMillis(this.clock)
      ? target.limiter.drainPermissions
      : Effect.void
    // Read (up to the cap) so that the connection is free before a retry; past the cap the rest is
    // never downloaded: the connection is closed and the kept copy holds the first bytes.
    const kept = Effect.map(
      readCapped(response.stream, this.settings.maxFailureBodyBytes),
      ({ bytes, complete }) => copyWithBody(request, response, bytes, complete)
    )
    // A failure body that cannot be read is no worse than the failure: keep the response.
    return Effect.andThen(drain, Effect.orElseSucceed(kept, () => response))
  }

  private pause(target: Target, response: HttpClientResponse.HttpClientResponse): void {
    const now = nowMillis(this.clock)
    const hint = parse(response.headers["retry-after"], now)
    if (Option.isNone(hint)) return
    const until = now + Math.min(Duration.toMillis(hint.value), this.maxRetryAfterMillis)
    if (until > target.pausedUntil) target.pausedUntil = until
  }

  /**
   * Whether the attempt traced by `trace` waited in `origin`'s pool while every open connection was
   * busy: undici created its request, no connection took it, and the pool has no free connection. A
   * request waiting for a connection still being opened (an unreachable host) is not the pool's fault.
   */
  private waitedInPool(trace: AttemptTrace | undefined, origin: string | undefined): boolean {
    if (trace === undefined || !trace.waitedInPool || this.options.dispatcher === undefined) return false
    const pool = readPool(this.options.dispatcher).find((p) => p.origin === origin)
    return pool !== undefined && pool.busy > 0 && pool.free === 0
  }

  private attempt<E, R>(
    target: Target,
    request: HttpClientRequest.HttpClientRequest,
    send: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>,
    call: CallTrace
  ): Effect.Effect<
    HttpClientResponse.HttpClientResponse,
    E | ResponseFailure | ResponseBodyTooLargeError | TimeLimiter.TimeoutExceededError,
    R
  > {
    return Effect.suspend(() => {
      const start = nowMillis(this.clock)
      const metrics = target.metrics
      metrics.inFlight++
      const trace = this.tracesPool ? new AttemptTrace() : undefined
      call.poolWaitMillis = undefined
      return Effect.flatMap(
        trace === undefined ? send : traced(send, trace),
        (response) => this.classify(target, request, response)
      ).pipe(
        TimeLimiter.withTimeLimiter(target.attemptTimeout),
        Effect.onExit((exit) => {
          metrics.inFlight--
          const elapsed = nowMillis(this.clock) - start
          const seconds = elapsed / 1000
          if (exit._tag === "Success") {
            metrics.response(exit.value.status, seconds)
            return Effect.void
          }
          const error = Option.getOrUndefined(failureOf(exit.cause))
          const timedOut = (error as { _tag?: unknown } | undefined)?._tag === "TimeoutExceededError"
          // Timed out (this attempt's limit, or the call's total one interrupting it) before any
          // connection took it: the pool's doing, counted as such and not as a timeout.
          if ((timedOut || isInterruptOnly(exit.cause)) && this.waitedInPool(trace, target.origin)) {
            call.poolWaitMillis = elapsed
            metrics.poolWait(seconds)
          } else if (timedOut) metrics.timeout(seconds)
          else if (isTransport(error)) metrics.transport(seconds)
          else metrics.latency(seconds) // invalid body (counted), caller's fault, defect or interruption
          return Effect.void
        })
      )
    })
  }

  // ---- one call ----------------------------------------------------------------------------------

  call<E, R>(
    request: HttpClientRequest.HttpClientRequest,
    send: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>
  ): Effect.Effect<
    HttpClientResponse.HttpClientResponse,
    E | Refusal | ResponseFailure | ResponseBodyTooLargeError,
    R
  > {
    // The URL's host and origin, read once a call: the host keys the target, the origin is the pool's.
    const url = this.urls.of(request.url)
    const key = this.keyOf(request, url?.host)
    const origin = url?.origin
    return Effect.acquireUseRelease(
      this.table.acquire(key),
      (lease) =>
        lease === undefined
          ? this.alone(key, request, send, origin)
          : this.guarded(lease.value, request, send, origin),
      (lease) => lease === undefined ? Effect.void : this.table.release(lease)
    )
  }

  /** Every target is busy: this call gets guards of its own, never another host's. */
  private alone<E, R>(
    key: string,
    request: HttpClientRequest.HttpClientRequest,
    send: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>,
    origin: string | undefined
  ) {
    this.oneCallTargets++
    return Effect.scoped(
      Effect.flatMap(this.oneCallTarget(key), (target) => this.guarded(target, request, send, origin))
    )
  }

  private guarded<E, R>(
    target: Target,
    request: HttpClientRequest.HttpClientRequest,
    send: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>,
    parsed: string | undefined
  ): Effect.Effect<
    HttpClientResponse.HttpClientResponse,
    E | Refusal | ResponseFailure | ResponseBodyTooLargeError,
    R
  > {
    const now = nowMillis(this.clock)
    // A URL that does not parse keeps the target's origin: the client will fail with InvalidUrl.
    if (parsed !== undefined) target.origin = parsed
    const pool = this.pool
    const origin = target.origin
    if (pool !== undefined && origin !== undefined) {
      if (!pool.admit(origin)) {
        target.metrics.refused("poolExhausted")
        return Effect.fail(
          new PoolExhaustedError({
            client: this.name,
            target: target.key,
            origin,
            inFlight: pool.count(origin),
            connections: pool.connections,
            queueLimit: pool.queueLimit
          })
        )
      }
      return Effect.ensuring(
        this.protect(target, request, send, now),
        Effect.sync(() => pool.release(origin))
      )
    }
    return this.protect(target, request, send, now)
  }

  private protect<E, R>(
    target: Target,
    request: HttpClientRequest.HttpClientRequest,
    send: Effect.Effect<HttpClientResponse.HttpClientResponse, E, R>,
    now: number
  ): Effect.Effect<
    HttpClientResponse.HttpClientResponse,
    E | Refusal | ResponseFailure | ResponseBodyTooLargeError,
    R
  > {
    const trace: CallTrace = { poolWaitMillis: undefined }
    if (now < target.pausedUntil) {
      target.metrics.refused("paused")
      return Effect.fail(
        new RateLimiter.RequestNotPermittedError({
          limiterName: `${this.name}:${target.key}`,
          permits: 1,
          retryAfter: Option.some(Duration.millis(target.pausedUntil - now))
        })
      )
    }
    let call: Effect.Effect<
      HttpClientResponse.HttpClientResponse,
      E | Refusal | ResponseFailure | ResponseBodyTooLargeError | Retry.MaxRetriesExceededError,
      R
    > = this.attempt(target, request, send, trace)
    if (target.breaker !== undefined) call = CircuitBreaker.withCircuitBreaker(call, target.breaker)
    if (target.retry !== undefined && this.retryMethods.has(request.method)) {
      call = Retry.withRetry(call, target.retry)
    } else if (target.budget !== undefined) {
      // Not retried, but still volume the budget's percentage is taken of.
      call = Effect.andThen(target.budget.deposit, call)
    }
    call = TimeLimiter.withTimeLimiter(call, target.totalTimeout)
    if (target.limiter !== undefined) call = RateLimiter.withRateLimiter(call, target.limiter)
    return call.pipe(
      // `failAfterMaxAttempts` is off: the last response is returned, never this error.
      Effect.catchTag("MaxRetriesExceededError", (e) => Effect.die(e)),
      Effect.tapError((error) => {
        const tag = (error as { _tag?: unknown })._tag
        if (tag === "CallNotPermittedError") target.metrics.refused("circuitOpen")
        else if (tag === "RequestNotPermittedError") target.metrics.refused("rateLimited")
        return Effect.void
      }),
      // Timed out while its last attempt still waited for a connection: the pool, not the dependency.
      Effect.mapError((error) =>
        (error as { _tag?: unknown })._tag === "TimeoutExceededError" && trace.poolWaitMillis !== undefined
          ? this.poolWaitError(target, trace.poolWaitMillis)
          : error
      )
    ) as Effect.Effect<
      HttpClientResponse.HttpClientResponse,
      E | Refusal | ResponseFailure | ResponseBodyTooLargeError,
      R
    >
  }

  private poolWaitError(target: Target, waitedMillis: number): PoolExhaustedError {
    const origin = target.origin ?? "(unknown)"
    const pool = this.options.dispatcher === undefined
      ? undefined
      : readPool(this.options.dispatcher).find((p) => p.origin === origin)
    return new PoolExhaustedError({
      client: this.name,
      target: target.key,
      origin,
      inFlight: this.pool?.count(origin) ?? target.metrics.inFlight,
      connections: this.settings.poolConnections ?? pool?.connected ?? 0,
      queueLimit: this.settings.poolQueueLimit ?? Number.POSITIVE_INFINITY,
      waitedMillis: Math.round(waitedMillis)
    })
  }

  // ---- reading -----------------------------------------------------------------------------------

  readonly targets: Effect.Effect<ReadonlyArray<string>> = Effect.sync(() => this.table.keys())

  readonly series: Effect.Effect<ReadonlyArray<SeriesSnapshot>> = Effect.sync(() => {
    const out: Array<SeriesSnapshot> = []
    for (const target of this.table.values()) target.metrics.series.pairs(out)
    this.metrics.poolSeries?.pairs(out)
    return out
  })

  readonly guards: Effect.Effect<ReadonlyArray<Guard>> = Effect.sync(() => this.table.values().flatMap(guardsOf))

  readonly snapshot: Effect.Effect<Snapshot> = Effect.suspend(() => {
    const pools = this.options.dispatcher === undefined ? [] : readPool(this.options.dispatcher)
    return Effect.map(
      Effect.forEach(this.table.values(), (target) => this.describe(target, pools)),
      (targets): Snapshot => ({ targets, pools, oneCallTargets: this.oneCallTargets })
    )
  })

  readonly httpEdges: ResilientHttpClient["httpEdges"] = Effect.map(this.snapshot, (snapshot) => ({
    outbound: snapshot.targets.map((target) => edgeFigures.outbound(this.name, target))
  }))

  private describe(target: Target, pools: ReadonlyArray<PoolStats>): Effect.Effect<TargetSnapshot> {
    const clock = this.clock
    return Effect.gen(function*() {
      const now = nowMillis(clock)
      const circuitState = target.breaker === undefined ? "None" : yield* target.breaker.state
      const circuitMetrics = target.breaker === undefined ? Option.none() : Option.some(yield* target.breaker.metrics)
      const rateLimiter = target.limiter === undefined ? Option.none() : Option.some(yield* target.limiter.metrics)
      const found = pools.find((p) => p.origin === target.origin)
      const pool = found === undefined ? Option.none() : Option.some(found)
      const pausedFor = now < target.pausedUntil
        ? Option.some(Duration.millis(target.pausedUntil - now))
        : Option.none()
      const pressures: Array<Pressure> = []
      if (circuitState === "Open" || circuitState === "ForcedOpen") pressures.push("circuit-open")
      if (Option.isSome(pausedFor)) pressures.push("paused-by-dependency")
      if (Option.isSome(rateLimiter) && rateLimiter.value.availablePermissions <= 0) pressures.push("rate-limited")
      if (Option.isSome(pool) && pool.value.free === 0 && pool.value.queued + pool.value.pending > 0) {
        pressures.push("pool-exhausted")
      }
      const m = target.metrics
      return {
        target: target.key,
        circuitState,
        circuitMetrics,
        rateLimiter,
        pausedFor,
        inFlight: m.inFlight,
        responses: m.responsesByCode(),
        failures: {
          transport: m.transportCount,
          timeout: m.timeoutCount,
          poolWait: m.poolWaitCount,
          invalidBody: m.invalidBodyCount,
          bodyTooLarge: m.bodyTooLargeCount
        },
        refusals: {
          circuitOpen: m.circuitOpenCount,
          rateLimited: m.rateLimitedCount,
          paused: m.pausedCount,
          poolExhausted: m.poolExhaustedCount
        },
        latencyMillis: httpEdges.latencyOf(m.recent),
        pool,
        pressures
      }
    })
  }
}

/** The body as JSON decoded with `schema`; fails with the parse or decode error. */
const decodeJson = (schema: Codec<any, any>, bytes: Uint8Array): Effect.Effect<unknown, unknown> =>
  Effect.suspend(() => {
    let json: unknown
    try {
      json = JSON.parse(new TextDecoder().decode(bytes))
    } catch (error) {
      return Effect.fail(error)
    }
    return decodeUnknownEffect(schema)(json)
  })
