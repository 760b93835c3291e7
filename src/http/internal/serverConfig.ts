/**
 * The inbound rate-limit middleware's options as a Schema; the limiter's own fields are checked by
 * `RateLimiter.make` (see `nested.ts`).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import { DurationInput, FiniteDuration, Name, Predicate, WholeNumber } from "../../port/effect3/validation.js"
import { isAddressOrRange } from "./keys.js"

const fallback = <S extends Schema.Schema.Any>(schema: S, value: () => Schema.Schema.Type<S>) =>
  Schema.optionalWith(schema, { default: value })

const KEY_KINDS = ["ip", "api-key", "route"] as const

const KeyKind = Schema.declare(
  (u: unknown): u is typeof KEY_KINDS[number] | ((request: never) => string | undefined) =>
    typeof u === "function" || KEY_KINDS.includes(u as typeof KEY_KINDS[number]),
  { message: () => "must be \"ip\", \"api-key\", \"route\" or a function of the request" }
)

const HeaderName = Schema.String.pipe(
  Schema.filter((s) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(s) || "must be an HTTP header name")
)

/** A structured-field token or string: what `RateLimit-Policy` can carry without escaping surprises. */
const PolicyName = Name.pipe(
  Schema.filter((s) => /^[\x20-\x7e]{1,64}$/.test(s) || "must be 1-64 printable ASCII characters")
)

const Hops = Schema.Union(Schema.Boolean, WholeNumber(0))

/** Addresses and CIDR ranges (IPv4 or IPv6) of our own proxies. */
const ProxyList = Schema.Array(
  Schema.String.pipe(
    Schema.filter((s) =>
      isAddressOrRange(s) || `must be an IP address or CIDR range, got ${JSON.stringify(s.slice(0, 64))}`
    )
  )
)

const Ipv6Prefix = WholeNumber(1).pipe(Schema.filter((n) => n <= 128 || "must be at most 128"))

/**
 * `X-Forwarded-For` may only be believed from known proxies: hops without a list of them would let
 * any client name its own key (or another client's).
 */
const proxiesListed = (
  options: {
    readonly trustProxy?: boolean | number | undefined
    readonly trustedProxies?: ReadonlyArray<string> | undefined
  }
) =>
  options.trustProxy !== undefined && options.trustProxy !== false && options.trustProxy !== 0 &&
    options.trustedProxies === undefined
    ? [{
      path: ["trustedProxies"],
      message:
        "is required when trustProxy is set: the addresses or CIDR ranges of the proxies whose X-Forwarded-For is believed"
    }]
    : []

export const ServerOptionsSchema = Schema.Struct({
  name: PolicyName,
  limitForPeriod: fallback(WholeNumber(1), () => 100),
  limitRefreshPeriod: fallback(DurationInput(Duration.millis(1)), (): Duration.DurationInput => "1 minute"),
  algorithm: Schema.optional(Schema.Unknown),
  capacity: Schema.optional(Schema.Unknown),
  key: fallback(KeyKind, () => "ip" as const),
  apiKeyHeader: fallback(HeaderName, () => "x-api-key"),
  trustProxy: Schema.optional(Hops),
  maxKeys: fallback(WholeNumber(1), () => 10_000),
  idleTimeToLive: Schema.optional(DurationInput(0)),
  maxKeyLength: fallback(WholeNumber(8), () => 128),
  trustedProxies: Schema.optional(ProxyList),
  ipv6Prefix: fallback(Ipv6Prefix, () => 64),
  maxConcurrentRequests: Schema.optional(WholeNumber(1)),
  maxConcurrentRequestsPerKey: Schema.optional(WholeNumber(1)),
  requestBodyTimeout: Schema.optional(FiniteDuration(Duration.millis(1))),
  routeLabel: Schema.optional(Predicate),
  maxRoutes: fallback(WholeNumber(1), () => 200)
}).pipe(Schema.filter(proxiesListed))
