/**
 * The dashboard's figures read from guard views: time in state, and the default failure breakdown and
 * traffic when the user gives none. Pure: the shell passes the time in.
 */

interface View {
  readonly kind: string
  readonly name: string
  readonly state?: string | undefined
  readonly metrics: Readonly<Record<string, number>>
}

const sumOf = (views: ReadonlyArray<View>, kind: string, ...keys: ReadonlyArray<string>): number => {
  let total = 0
  for (const view of views) {
    if (view.kind !== kind) continue
    for (const key of keys) total += view.metrics[key] ?? 0
  }
  return total
}

const shows = (views: ReadonlyArray<View>, kind: string): boolean => views.some((view) => view.kind === kind)

/**
 * Why calls failed, read from the guards' own counters (see the Dashboard module's Gotchas). The
 * adaptive guards' reasons are there only when such a guard is: most pages have none.
 */
export const defaultFailures = (
  views: ReadonlyArray<View>,
  http?: {
    readonly outbound: ReadonlyArray<{
      readonly refusals: Readonly<Record<string, number>>
      readonly failures: Readonly<Record<string, number>>
    }>
  }
): Record<string, number> => {
  // Attempts that timed out still waiting for a connection: the pool's, not the dependency's. Their
  // time limiter counted them as timeouts too; taken out of "timeout" so that each counts once.
  const poolWaits = http === undefined
    ? 0
    : http.outbound.reduce((sum, edge) => sum + (edge.failures["poolWait"] ?? 0), 0)
  return {
    dependencyError: sumOf(views, "CircuitBreaker", "failedCallsTotal"),
    timeout: Math.max(0, sumOf(views, "TimeLimiter", "timeoutsTotal") - poolWaits),
    circuitOpen: sumOf(views, "CircuitBreaker", "notPermittedCallsTotal"),
    rateLimited: sumOf(views, "RateLimiter", "failedAcquiresTotal"),
    bulkheadFull: sumOf(views, "Bulkhead", "rejectedCallsTotal"),
    // With HTTP edges shown: calls their client refused because the connection pool was exhausted,
    // and attempts that timed out waiting for one of its connections.
    ...(http === undefined ? {} : {
      poolExhausted: http.outbound.reduce((sum, edge) => sum + (edge.refusals["poolExhausted"] ?? 0), 0) + poolWaits
    }),
    ...(shows(views, "AdaptiveThrottler")
      ? { throttled: sumOf(views, "AdaptiveThrottler", "throttledCallsTotal") }
      : {}),
    ...(shows(views, "AdaptiveLimiter") ? { adaptiveLimit: sumOf(views, "AdaptiveLimiter", "rejectedCallsTotal") } : {})
  }
}

/** Calls offered to the breakers, and those they let through. */
export const defaultTraffic = (views: ReadonlyArray<View>): Record<string, number> => {
  const delivered = sumOf(views, "CircuitBreaker", "successfulCallsTotal", "failedCallsTotal", "ignoredCallsTotal")
  return { offered: delivered + sumOf(views, "CircuitBreaker", "notPermittedCallsTotal"), delivered }
}

/** A guard's change of state, from its events. */
export interface Transition {
  readonly at: number
  readonly kind: string
  readonly name: string
  readonly from: string
  readonly to: string
}

/**
 * Since when each guard with a state has been in it: from its last transition event when one was
 * seen, else from the first look.
 */
export class StateClock {
  private readonly since = new Map<string, { readonly state: string; readonly at: number }>()
  private readonly recent: Array<Transition> = []

  constructor(private readonly keep = 500) {}

  /** Records a transition seen in a guard's events. */
  transition(transition: Transition): void {
    this.since.set(`${transition.kind}/${transition.name}`, { state: transition.to, at: transition.at })
    this.recent.push(transition)
    if (this.recent.length > this.keep) this.recent.shift()
  }

  /** The last transitions seen, oldest first. */
  get transitions(): ReadonlyArray<Transition> {
    return this.recent.slice()
  }

  annotate<V extends View>(views: ReadonlyArray<V>, now: number): Array<V> {
    return views.map((view) => {
      if (view.state === undefined) return view
      const key = `${view.kind}/${view.name}`
      let entry = this.since.get(key)
      if (entry === undefined || entry.state !== view.state) this.since.set(key, entry = { state: view.state, at: now })
      return { ...view, metrics: { ...view.metrics, timeInStateMillis: now - entry.at } }
    })
  }
}
