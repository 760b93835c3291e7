/**
 * The rate limiter's side of the {@link Store} interface.
 *
 * @since 0.1.0
 */
// Placeholder: defined by the rate-limiter work of the Redis issue.
export interface RateLimiterStore {
  readonly _RateLimiterStore: unique symbol
}
