/**
 * The option fuzzer (test/helpers/optionFuzz.ts) over the HTTP client's and the middleware's options.
 * Apart from test/Config.fuzz.test.ts because src/http is not yet on Effect 4 (it joins the Effect 4
 * suites once it is).
 */
import { describe } from "@effect/vitest"
import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
import { fuzzMake, type GuardCase } from "./helpers/optionFuzz.js"

const clients: ReadonlyArray<GuardCase> = [
  {
    name: "ResilientHttpClient",
    make: (o) => ResilientHttpClient.make(o),
    valid: {
      name: "http",
      maxTargets: 10,
      idleTimeToLive: "1 minute",
      attemptTimeout: "1 second",
      totalTimeout: "5 seconds",
      retryMethods: ["GET"],
      retryStatuses: [503],
      circuitBreaker: { minimumNumberOfCalls: 5 },
      rateLimiter: { limitForPeriod: 5 },
      retry: { maxAttempts: 2 },
      retryBudget: { percentCanRetry: 0.1 }
    },
    partners: { totalTimeout: ["attemptTimeout"] }
  },
  {
    name: "RateLimitMiddleware",
    make: (o) => RateLimitMiddleware.make(o),
    valid: {
      name: "api",
      limitForPeriod: 10,
      limitRefreshPeriod: "1 second",
      key: "ip",
      apiKeyHeader: "x-api-key",
      trustProxy: 1,
      trustedProxies: ["10.0.0.0/8", "::1"],
      ipv6Prefix: 56,
      maxKeys: 100,
      maxKeyLength: 64,
      maxConcurrentRequests: 5,
      maxConcurrentRequestsPerKey: 2,
      requestBodyTimeout: "10 seconds",
      maxRoutes: 10
    },
    partners: { algorithm: ["limiter.capacity", "limiter.limitRefreshPeriod", "limiter.algorithm"] }
  }
]

describe("option decoders: random input", () => {
  fuzzMake(clients)
})
