/**
 * When a call is refused because its connection pool is exhausted. The rule, in one place: with
 * `poolQueueLimit` set and the pool's size known (`poolConnections`, the undici agent's `connections`
 * per origin), a call is refused when the client already has `poolConnections + poolQueueLimit` calls
 * in flight to the request's origin: every connection is taken and `poolQueueLimit` calls already
 * wait for one. Counted here, at admission, rather than read from undici's statistics: those move
 * only once a request is dispatched, so a burst of calls arriving together would all be admitted, and
 * undici queues requests while connections are still being opened, which is not exhaustion. Past the
 * limit a call would only wait in the pool until its attempt timeout, tying up our caller and looking
 * to the breaker like the dependency's failure; refusing it says why.
 *
 * @internal
 */

export class PoolAdmission {
  private readonly inFlight = new Map<string, number>()

  constructor(readonly connections: number, readonly queueLimit: number) {}

  /** Calls in flight to `origin` now. */
  count(origin: string): number {
    return this.inFlight.get(origin) ?? 0
  }

  /** Admits one more call to `origin` (true), or refuses it: the pool is exhausted (false). */
  admit(origin: string): boolean {
    const n = this.count(origin)
    if (n >= this.connections + this.queueLimit) return false
    this.inFlight.set(origin, n + 1)
    return true
  }

  /** The admitted call to `origin` is over. */
  release(origin: string): void {
    const n = this.count(origin) - 1
    if (n <= 0) this.inFlight.delete(origin)
    else this.inFlight.set(origin, n)
  }
}
