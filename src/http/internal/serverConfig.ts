/**
 * The inbound rate-limit middleware's options as a Schema; the limiter's own fields are checked by
 * `RateLimiter.make` (see `nested.ts`). Written once for both Effect targets (the combinators whose
 * form differs come from `#port`).
 *
 * @internal
 */
import {
  declare,
  type DurationInput,
  DurationInputSchema,
  FiniteDuration,
  Name,
  Predicate,
  refine,
  union,
  WholeNumber,
  withDefault
} from "#port"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import { isAddressOrRange } from "./keys.js"

const KEY_KINDS = ["ip", "api-key", "route"] as const

const KeyKind = declare(
  (u: unknown): u is typeof KEY_KINDS[number] | ((request: never) => string | undefined) =>
    typeof u === "function" || KEY_KINDS.includes(u as typeof KEY_KINDS[number]),
  "must be \"ip\", \"api-key\", \"route\" or a function of the request"
)

const HeaderName = Schema.String.pipe(
  refine((s: string) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(s) || "must be an HTTP header name")
)

/** A structured-field token or string: what `RateLimit-Policy` can carry without escaping surprises. */
const PolicyName = Name.pipe(
  refine((s: string) => /^[\x20-\x7e]{1,64}$/.test(s) || "must be 1-64 printable ASCII characters")
)

const Hops = union(Schema.Boolean, WholeNumber(0))

/** Addresses and CIDR ranges (IPv4 or IPv6) of our own proxies. */
const ProxyList = Schema.Array(
  Schema.String.pipe(
    refine((s: string) =>
      isAddressOrRange(s) || `must be an IP address or CIDR range, got ${JSON.stringify(s.slice(0, 64))}`
    )
  )
)

const Ipv6Prefix = WholeNumber(1).pipe(refine((n: number) => n <= 128 || "must be at most 128"))

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
  limitForPeriod: withDefault(WholeNumber(1), () => 100),
  limitRefreshPeriod: withDefault(DurationInputSchema(Duration.millis(1)), (): DurationInput => "1 minute"),
  algorithm: Schema.optional(Schema.Unknown),
  capacity: Schema.optional(Schema.Unknown),
  key: withDefault(KeyKind, () => "ip" as const),
  apiKeyHeader: withDefault(HeaderName, () => "x-api-key"),
  trustProxy: Schema.optional(Hops),
  maxKeys: withDefault(WholeNumber(1), () => 10_000),
  idleTimeToLive: Schema.optional(DurationInputSchema(0)),
  maxKeyLength: withDefault(WholeNumber(8), () => 128),
  trustedProxies: Schema.optional(ProxyList),
  ipv6Prefix: withDefault(Ipv6Prefix, () => 64),
  maxConcurrentRequests: Schema.optional(WholeNumber(1)),
  maxConcurrentRequestsPerKey: Schema.optional(WholeNumber(1)),
  requestBodyTimeout: Schema.optional(FiniteDuration(Duration.millis(1))),
  routeLabel: Schema.optional(Predicate),
  maxRoutes: withDefault(WholeNumber(1), () => 200)
}).pipe(refine(proxiesListed))
