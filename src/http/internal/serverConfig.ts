/**
 * The inbound rate-limit middleware's options as a Schema; the limiter's own fields are checked by
 * `RateLimiter.make` (see `nested.ts`).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import { DurationInput, Name, Predicate, WholeNumber } from "../../internal/validation.js"

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

export const ServerOptionsSchema = Schema.Struct({
  name: PolicyName,
  limitForPeriod: fallback(WholeNumber(1), () => 100),
  limitRefreshPeriod: fallback(DurationInput(Duration.millis(1)), (): Duration.DurationInput => "1 minute"),
  algorithm: Schema.optional(Schema.Unknown),
  capacity: Schema.optional(Schema.Unknown),
  key: fallback(KeyKind, () => "ip" as const),
  apiKeyHeader: fallback(HeaderName, () => "x-api-key"),
  trustProxy: fallback(Hops, () => false),
  maxKeys: fallback(WholeNumber(1), () => 10_000),
  idleTimeToLive: Schema.optional(DurationInput(0)),
  maxKeyLength: fallback(WholeNumber(8), () => 128),
  maxConcurrentRequests: Schema.optional(WholeNumber(1)),
  routeLabel: Schema.optional(Predicate),
  maxRoutes: fallback(WholeNumber(1), () => 200)
})
