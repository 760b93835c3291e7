/**
 * The HTTP options read through `effect/Config`, like every guard's: JSON and constant-case
 * environment providers, nested guard options, and bad values reported with their field's name.
 */
import { HttpClient, HttpClientResponse } from "#port/httpClient"
import { configFromEnv, configFromJson, withConfig } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { InvalidConfigError } from "../../src/errors/InvalidConfigError.js"
import * as RateLimitMiddleware from "../../src/http/RateLimitMiddleware.js"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"

/** An in-memory dependency that always answers 500. */
const failing = Layer.succeed(
  HttpClient.HttpClient,
  HttpClient.make((request) =>
    Effect.succeed(HttpClientResponse.fromWeb(request, new Response("boom", { status: 500 })))
  )
)

const env = configFromEnv

const fieldsOf = (error: unknown) =>
  error instanceof InvalidConfigError
    ? [...new Set(error.issues.map((issue) => issue.field))].sort()
    : [`not an InvalidConfigError: ${error}`]

describe("ResilientHttpClient.config", () => {
  it.effect("reads plain and nested options from JSON; absent guards stay absent", () =>
    Effect.gen(function*() {
      const provider = configFromJson({
        partners: {
          maxTargets: 5,
          attemptTimeout: "2 seconds",
          totalTimeout: 10_000,
          retryMethods: ["GET", "POST"],
          retryStatuses: [500, 503],
          circuitBreaker: { failureRateThreshold: 25, slidingWindowSize: 4, waitDurationInOpenState: "5 seconds" },
          retry: { maxAttempts: 2 },
          retryBudget: false
        }
      })
      const options = yield* withConfig(provider)(ResilientHttpClient.config("partners"))
      expect(options).toEqual({
        name: "partners",
        maxTargets: 5,
        attemptTimeout: "2 seconds",
        totalTimeout: 10_000,
        retryMethods: ["GET", "POST"],
        retryStatuses: [500, 503],
        circuitBreaker: { failureRateThreshold: 25, slidingWindowSize: 4, waitDurationInOpenState: "5 seconds" },
        retry: { maxAttempts: 2 },
        retryBudget: false
      })
      expect("rateLimiter" in options).toBe(false) // reading nothing does not switch a rate limiter on
    }))

  it.effect("reads a constant-case environment, and the configured breaker really opens", () =>
    Effect.gen(function*() {
      const provider = env({
        PARTNERS_ATTEMPT_TIMEOUT: "500",
        PARTNERS_RETRY_METHODS: "GET, PUT",
        PARTNERS_CIRCUIT_BREAKER_FAILURE_RATE_THRESHOLD: "50",
        PARTNERS_CIRCUIT_BREAKER_SLIDING_WINDOW_SIZE: "2",
        PARTNERS_CIRCUIT_BREAKER_MINIMUM_NUMBER_OF_CALLS: "2",
        PARTNERS_RATE_LIMITER_LIMIT_FOR_PERIOD: "100",
        PARTNERS_RETRY: "false"
      })
      const options = yield* withConfig(provider)(ResilientHttpClient.config("partners"))
      expect(options).toEqual({
        name: "partners",
        attemptTimeout: 500,
        retryMethods: ["GET", "PUT"],
        circuitBreaker: { failureRateThreshold: 50, slidingWindowSize: 2, minimumNumberOfCalls: 2 },
        rateLimiter: { limitForPeriod: 100 },
        retry: false
      })
      const states = yield* Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        yield* Effect.forEach([1, 2], () => Effect.exit(client.get("http://partners.test/a")))
        const refused = yield* Effect.flip(client.get("http://partners.test/a"))
        const { targets } = yield* Effect.flatMap(ResilientHttpClient.ResilientHttpClient, (c) => c.snapshot)
        return { refused: ResilientHttpClient.refusal(refused), targets }
      }).pipe(
        Effect.provide(
          ResilientHttpClient.layerConfig(ResilientHttpClient.config("partners")).pipe(Layer.provide(failing))
        ),
        withConfig(provider)
      )
      expect(states.targets[0]!.circuitState).toBe("Open")
      expect(states.refused?._tag).toBe("Some")
    }))

  it.effect("bad values fail with InvalidConfigError naming each field, nested ones included", () =>
    Effect.gen(function*() {
      const provider = configFromJson({
        partners: {
          maxTargets: "many",
          retryMethods: ["GET", "FETCH"],
          circuitBreaker: { failureRateThreshold: 150 },
          retry: { maxAttempts: "x" },
          rateLimiter: "sometimes"
        }
      })
      const error = yield* Effect.flip(
        Layer.build(
          ResilientHttpClient.layerConfig(ResilientHttpClient.config("partners")).pipe(Layer.provide(failing))
        )
          .pipe(Effect.scoped, withConfig(provider))
      )
      expect(fieldsOf(error)).toEqual([
        "circuitBreaker.failureRateThreshold",
        "maxTargets",
        "rateLimiter",
        "retry.maxAttempts",
        "retryMethods.1"
      ])

      const fromEnv = yield* Effect.flip(
        Effect.flatMap(
          ResilientHttpClient.config("partners"),
          (options) => Effect.scoped(ResilientHttpClient.make(options))
        ).pipe(
          withConfig(env({
            PARTNERS_ATTEMPT_TIMEOUT: "soon",
            PARTNERS_RETRY_BUDGET_PERCENT_CAN_RETRY: "2"
          }))
        )
      )
      expect(fieldsOf(fromEnv)).toEqual(["attemptTimeout", "retryBudget.percentCanRetry"])
    }))
})

describe("RateLimitMiddleware.config", () => {
  it.effect("reads JSON and constant-case environments", () =>
    Effect.gen(function*() {
      const json = yield* withConfig(configFromJson({
        api: { limitForPeriod: 600, limitRefreshPeriod: "1 minute", key: "api-key", trustProxy: 2 }
      }))(RateLimitMiddleware.config("api"))
      expect(json).toEqual({
        name: "api",
        limitForPeriod: 600,
        limitRefreshPeriod: "1 minute",
        key: "api-key",
        trustProxy: 2
      })
      const fromEnv = yield* withConfig(
        env({
          API_LIMIT_FOR_PERIOD: "10",
          API_ALGORITHM: "token-bucket",
          API_TRUST_PROXY: "true",
          API_TRUSTED_PROXIES: "10.0.0.0/8, fd00::/8",
          API_MAX_CONCURRENT_REQUESTS: "50",
          API_MAX_CONCURRENT_REQUESTS_PER_KEY: "4",
          API_REQUEST_BODY_TIMEOUT: "5000"
        })
      )(RateLimitMiddleware.config("api"))
      expect(fromEnv).toEqual({
        name: "api",
        limitForPeriod: 10,
        algorithm: "token-bucket",
        trustProxy: true,
        trustedProxies: ["10.0.0.0/8", "fd00::/8"],
        maxConcurrentRequests: 50,
        maxConcurrentRequestsPerKey: 4,
        requestBodyTimeout: 5000
      })
      const limit = yield* Effect.scoped(RateLimitMiddleware.make(fromEnv))
      expect(limit.policyName).toBe("api")
      // Hops without the proxies they may come from would let any client name its own key.
      const unlisted = yield* Effect.flip(Effect.scoped(RateLimitMiddleware.make({ name: "api", trustProxy: 2 })))
      expect(fieldsOf(unlisted)).toEqual(["trustedProxies"])
    }))

  it.effect("bad values fail with InvalidConfigError naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.flatMap(RateLimitMiddleware.config("api"), (options) => Effect.scoped(RateLimitMiddleware.make(options)))
          .pipe(withConfig(env({
            API_LIMIT_FOR_PERIOD: "lots",
            API_TRUST_PROXY: "maybe",
            API_TRUSTED_PROXIES: "10.0.0.0/8,10.0.0.0/33",
            API_IPV6_PREFIX: "129",
            API_KEY: "cookie"
          })))
      )
      expect(fieldsOf(error)).toEqual(["ipv6Prefix", "key", "limitForPeriod", "trustProxy", "trustedProxies.1"])
    }))
})
