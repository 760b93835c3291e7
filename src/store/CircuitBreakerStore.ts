/**
 * The circuit breaker's side of the {@link Store} interface.
 *
 * @since 0.1.0
 */
// Placeholder: defined by the circuit-breaker work of the Redis issue.
export interface CircuitBreakerStore {
  readonly _CircuitBreakerStore: unique symbol
}
