/**
 * The resilient HTTP client's own options as a Schema, and `check`, which also has the guards' options
 * nested in them checked by the guards themselves (see `nested.ts`), reporting every issue at once.
 *
 * @internal
 */
import {
  type Codec,
  declare,
  decodeOptions,
  type DurationInput,
  DurationInputSchema,
  Name,
  Predicate,
  refine,
  toDuration,
  WholeNumber,
  withDefault
} from "#port"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import * as CircuitBreaker from "../../guards/CircuitBreaker.js"
import * as RateLimiter from "../../guards/RateLimiter.js"
import * as Retry from "../../guards/Retry.js"
import * as RetryBudget from "../../guards/RetryBudget.js"
import { failWithIssues, nestedIssues } from "./nested.js"
import type { Options } from "./resilientHttpClientApi.js"

/** The methods RFC 9110 calls idempotent, less TRACE: what is retried unless told otherwise. */
export const IDEMPOTENT_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"] as const

const METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH"] as const

const Method = declare(
  (u: unknown): u is typeof METHODS[number] => METHODS.includes(u as typeof METHODS[number]),
  `must be one of ${METHODS.join(", ")}`
)

const Status = Schema.Number.pipe(
  refine((n) => (Number.isInteger(n) && n >= 100 && n <= 599) || "must be an HTTP status code (100-599)")
)

/** A guard's options (an object, checked by the guard it configures), or `false` to turn it off. */
const Nested = declare(
  (u: unknown): u is object | false => u === false || (typeof u === "object" && u !== null && !Array.isArray(u)),
  "expected the guard's options (an object), or false to turn it off"
)

/** A byte count in [min, 1 GiB]: past 1 GiB a body cannot be held in memory sensibly anyway. */
const ByteCount = (min: number) =>
  Schema.Number.pipe(
    refine((n) =>
      (Number.isInteger(n) && n >= min && n <= 2 ** 30) || `must be a whole number of bytes in [${min}, 1073741824]`
    )
  )

/** Failure bodies are kept for their error message: 64 KiB holds any error page worth reading. */
export const DEFAULT_MAX_FAILURE_BODY_BYTES = 64 * 1024

/**
 * Validated bodies are decoded whole: 10 MiB is ~100x a typical JSON API answer, and what ten
 * concurrent calls can hold without worrying a 512 MB container.
 */
export const DEFAULT_MAX_VALIDATED_BODY_BYTES = 10 * 1024 * 1024

const SchemaValue = declare((u: unknown): u is Codec<unknown, unknown> => Schema.isSchema(u), "expected a Schema")

export const ClientOptionsSchema = Schema.Struct({
  name: Name,
  key: Schema.optional(Predicate),
  maxTargets: withDefault(WholeNumber(1), () => 1_000),
  idleTimeToLive: withDefault(DurationInputSchema(0), (): DurationInput => "5 minutes"),
  attemptTimeout: withDefault(DurationInputSchema(Duration.millis(1)), (): DurationInput => "10 seconds"),
  totalTimeout: withDefault(DurationInputSchema(Duration.millis(1)), (): DurationInput => "30 seconds"),
  maxRetryAfter: Schema.optional(DurationInputSchema(0)),
  retryMethods: withDefault(Schema.Array(Method), () => [...IDEMPOTENT_METHODS]),
  retryStatuses: withDefault(Schema.Array(Status), () => [408, 429, 500, 502, 503, 504]),
  validate: Schema.optional(SchemaValue),
  maxFailureBodyBytes: withDefault(ByteCount(0), () => DEFAULT_MAX_FAILURE_BODY_BYTES),
  maxValidatedBodyBytes: withDefault(ByteCount(1), () => DEFAULT_MAX_VALIDATED_BODY_BYTES),
  circuitBreaker: Schema.optional(Nested),
  rateLimiter: Schema.optional(Nested),
  learnRateLimits: withDefault(Schema.Boolean, () => false),
  retry: Schema.optional(Nested),
  retryBudget: Schema.optional(Nested),
  dispatcher: Schema.optional(Nested),
  poolMetricsInterval: withDefault(DurationInputSchema(Duration.millis(10)), (): DurationInput => "1 second"),
  poolConnections: Schema.optional(WholeNumber(1)),
  poolQueueLimit: Schema.optional(WholeNumber(1))
}).pipe(
  // Polly's rule: an attempt may not outlast the whole call.
  refine((o) =>
    Duration.toMillis(toDuration(o.attemptTimeout)) <= Duration.toMillis(toDuration(o.totalTimeout)) ||
    { path: ["attemptTimeout"], message: "must not be longer than totalTimeout" }
  ),
  // The queue is counted against the pool's size: without it there is nothing to count against.
  refine((o) =>
    o.poolQueueLimit === undefined || o.poolConnections !== undefined ||
    { path: ["poolQueueLimit"], message: "requires poolConnections (NodeResilientHttpClient.layer sets it)" }
  ),
  // The learned quota is kept by the target's rate limiter: without one there is nowhere to keep it.
  refine((o) =>
    !o.learnRateLimits || (typeof o.rateLimiter === "object" && o.rateLimiter !== null) ||
    { path: ["learnRateLimits"], message: "requires the target's rateLimiter (set rateLimiter options)" }
  )
)

/** The checked options, defaults applied. */
export type Settings = typeof ClientOptionsSchema.Type

export const isBudget = (u: unknown): u is RetryBudget.RetryBudget =>
  typeof u === "object" && u !== null && "tryWithdraw" in u && "deposit" in u

/** Nested options worth handing to the guard's `make`: anything else is reported by the Schema. */
const isOptionsObject = (u: unknown): u is object => typeof u === "object" && u !== null && !Array.isArray(u)

/** Checks every option, the guards' included, reporting all issues in one error. */
export const check = (options: Options): Effect.Effect<Settings, InvalidConfigError> =>
  Effect.gen(function*() {
    const decoded = yield* Effect.match(decodeOptions(ClientOptionsSchema, "ResilientHttpClient", options), {
      onSuccess: (settings) => ({ settings, error: undefined }),
      onFailure: (error) => ({ settings: undefined, error })
    })
    if (decoded.error !== undefined && (typeof options !== "object" || options === null)) {
      return yield* Effect.fail(decoded.error)
    }
    const name = "probe"
    const issues = yield* Effect.all([
      Effect.succeed(decoded.error === undefined ? [] : decoded.error.issues),
      !isOptionsObject(options.circuitBreaker)
        ? Effect.succeed([])
        : nestedIssues("circuitBreaker", CircuitBreaker.make({ ...options.circuitBreaker, name })),
      !isOptionsObject(options.rateLimiter)
        ? Effect.succeed([])
        : nestedIssues("rateLimiter", RateLimiter.make({ ...options.rateLimiter, name })),
      !isOptionsObject(options.retry)
        ? Effect.succeed([])
        : nestedIssues("retry", Retry.make({ ...options.retry, name })),
      !isOptionsObject(options.retryBudget) || isBudget(options.retryBudget)
        ? Effect.succeed([])
        : nestedIssues("retryBudget", RetryBudget.make({ ...options.retryBudget, name }))
    ])
    yield* failWithIssues("ResilientHttpClient", typeof options.name === "string" ? options.name : "<unnamed>", issues)
    // No issue at all (else `failWithIssues` failed): the options decoded.
    return decoded.settings!
  })
