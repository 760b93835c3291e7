/**
 * The HTTP options as `effect/Config` can carry them: the plain fields, and each nested guard's plain
 * fields under its own key (`circuitBreaker.failureRateThreshold`, in the environment
 * `PARTNERS_CIRCUIT_BREAKER_FAILURE_RATE_THRESHOLD`). Readers never judge: a bad value reaches the
 * Schema (or the nested guard's `make`) as it is, and is reported there with its field's name.
 *
 * @internal
 */
import { absentWhen, booleanConfig, configList, durationConfig, numberConfig, readFields, stringConfig } from "#port"
import * as Config from "effect/Config"
import { configFields as breakerFields } from "../../guards/internal/circuitBreakerConfig.js"
import { configFields as limiterFields } from "../../guards/internal/rateLimiterConfig.js"
import { budgetConfigFields, retryConfigFields } from "../../guards/internal/retryConfig.js"

type Fields = Record<string, (name: string) => Config.Config<unknown>>

const numeric = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/

/** A list: a JSON array, or comma-separated text (`"GET,PUT"`) in the environment; items trimmed. */
const listConfig = (convert: (item: string) => unknown) => (name: string): Config.Config<unknown> =>
  Config.map(configList(name), (items) => items.map((item) => convert(item.trim())))

const text = (item: string): unknown => item
const number = (item: string): unknown => numeric.test(item) ? Number(item) : item

/**
 * A nested guard's options: `false` (or `true`, for the defaults) as the key's own value, else its
 * fields under the key. No field at all is "absent" (the client's default), not "on with defaults":
 * otherwise a rate limiter, off by default, would be switched on by reading nothing.
 */
const guardConfig = (fields: Fields) => (name: string): Config.Config<unknown> =>
  Config.orElse(
    Config.map(stringConfig(name), (value): unknown => {
      const word = value.trim().toLowerCase()
      return word === "false" ? false : word === "true" ? {} : value
    }),
    () =>
      absentWhen(
        Config.nested(readFields(fields), name),
        (values) => Object.keys(values).length === 0,
        name,
        `no option of ${name} is set`
      )
  )

/** Retry's fields the client lets configuration set (it decides the others itself). */
const { maxAttempts, waitDuration } = retryConfigFields

/** `ResilientHttpClient`'s options as configuration carries them. */
export const clientConfigFields = {
  maxTargets: numberConfig,
  idleTimeToLive: durationConfig,
  attemptTimeout: durationConfig,
  totalTimeout: durationConfig,
  maxRetryAfter: durationConfig,
  retryMethods: listConfig(text),
  retryStatuses: listConfig(number),
  maxFailureBodyBytes: numberConfig,
  maxValidatedBodyBytes: numberConfig,
  poolMetricsInterval: durationConfig,
  circuitBreaker: guardConfig(breakerFields),
  rateLimiter: guardConfig(limiterFields),
  learnRateLimits: booleanConfig,
  retry: guardConfig({ maxAttempts, waitDuration }),
  retryBudget: guardConfig(budgetConfigFields)
} as const

/** `RateLimitMiddleware`'s options as configuration carries them (`key` only as a kind's name). */
export const serverConfigFields = {
  limitForPeriod: numberConfig,
  limitRefreshPeriod: durationConfig,
  algorithm: stringConfig,
  capacity: numberConfig,
  key: stringConfig,
  apiKeyHeader: stringConfig,
  trustProxy: (name: string): Config.Config<unknown> =>
    Config.map(stringConfig(name), (value) => {
      const word = value.trim().toLowerCase()
      return word === "true" ? true : word === "false" ? false : number(value.trim())
    }),
  trustedProxies: listConfig(text),
  ipv6Prefix: numberConfig,
  maxKeys: numberConfig,
  idleTimeToLive: durationConfig,
  maxKeyLength: numberConfig,
  maxConcurrentRequests: numberConfig,
  maxConcurrentRequestsPerKey: numberConfig,
  requestBodyTimeout: durationConfig,
  maxRoutes: numberConfig
} as const
