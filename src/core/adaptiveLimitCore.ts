/**
 * The adaptive concurrency limiter's decisions: a window of call samples, and two algorithms that
 * turn one closed window into the next limit, as pure functions of (settings, state, window summary).
 *
 * Windowing follows Netflix concurrency-limits' `WindowedLimit` (and failsafe-go's "recent window"):
 * samples are aggregated until the window has lasted `windowMillis` and holds `minWindowSamples`, and
 * the algorithm runs once per window. Netflix's `AIMDLimit` applied to every sample backs off once per
 * timed-out call, so a burst of timeouts collapses the limit to its floor; once per window it behaves
 * like TCP (one decrease per round trip).
 *
 * - AIMD follows `AIMDLimit`: a window with a drop (a failure, or a call slower than `timeoutMillis`)
 *   multiplies the limit by `backoffRatio`; otherwise it grows by 1, but only while the limit is in use
 *   (the window's peak in-flight is at least half the limit), so an idle service does not inflate it.
 * - Gradient follows `Gradient2Limit`: the no-load latency is a long exponential average of the window
 *   averages (`baselineWindows` windows), pulled down when it is more than twice the recent latency
 *   (Gradient2's drift correction); gradient = clamp(tolerance × noLoad / recent, 0.5, 1); the new
 *   limit is limit × gradient + queueSize, smoothed by `smoothing`, and does not grow while the limit
 *   is not in use. Like Gradient2, it ignores drops: latency is its only signal (a timed-out call still
 *   counts through its duration). Backing off on every window with a failure made ordinary business
 *   errors (2% of calls against an unlimited dependency) collapse the limit from 20 to 3. Where it
 *   differs: the default tolerance is 1 rather than 1.5, because with 1.5 the limit settles where
 *   latency is already 1.5 times the no-load latency, i.e. at 1.5 times the dependency's capacity.
 *
 * @internal
 */

/** The algorithm's validated settings, in plain numbers. */
export interface LimitSettings {
  readonly algorithm: "aimd" | "gradient"
  readonly minLimit: number
  readonly maxLimit: number
  readonly backoffRatio: number
  readonly timeoutMillis: number
  readonly smoothing: number
  readonly tolerance: number
  readonly queueSize: number
  readonly baselineWindows: number
  readonly windowMillis: number
  readonly minWindowSamples: number
}

/** What the algorithms carry from window to window. `noLoadMillis` is NaN until the first window. */
export interface LimitState {
  /** The estimated limit, fractional; the shell admits `Math.floor(limit)` calls. */
  readonly limit: number
  readonly noLoadMillis: number
}

/** One closed window, as the algorithms see it. */
export interface WindowSummary {
  readonly samples: number
  readonly averageMillis: number
  readonly maxInFlight: number
  readonly dropped: boolean
}

const clamp = (settings: LimitSettings, limit: number): number =>
  Math.min(settings.maxLimit, Math.max(settings.minLimit, limit))

/** The limit is "in use" when the window's peak in-flight reached half of it (Netflix's app-limited check). */
const inUse = (state: LimitState, window: WindowSummary): boolean => window.maxInFlight * 2 >= state.limit

/** The long-term latency baseline after one more window (Gradient2's long RTT). */
export const nextBaseline = (settings: LimitSettings, noLoadMillis: number, window: WindowSummary): number => {
  if (Number.isNaN(noLoadMillis)) return window.averageMillis
  const factor = 2 / (settings.baselineWindows + 1)
  const averaged = noLoadMillis + (window.averageMillis - noLoadMillis) * factor
  // Gradient2's drift correction: after a long slow spell, let the baseline come down faster.
  return averaged > 2 * window.averageMillis ? averaged * 0.95 : averaged
}

/** AIMD: back off on a dropped window, otherwise add one while the limit is in use. */
export const aimd = (settings: LimitSettings, state: LimitState, window: WindowSummary): LimitState => {
  const noLoadMillis = nextBaseline(settings, state.noLoadMillis, window)
  const limit = window.dropped
    ? state.limit * settings.backoffRatio
    : inUse(state, window)
    ? state.limit + 1
    : state.limit
  return { limit: clamp(settings, limit), noLoadMillis }
}

/** Gradient: scale the limit by no-load latency over recent latency, plus a small queue; drops are ignored. */
export const gradient = (settings: LimitSettings, state: LimitState, window: WindowSummary): LimitState => {
  const noLoadMillis = nextBaseline(settings, state.noLoadMillis, window)
  const ratio = window.averageMillis <= 0 ? 1 : settings.tolerance * noLoadMillis / window.averageMillis
  const slope = Math.min(1, Math.max(0.5, ratio))
  if (slope === 1 && !inUse(state, window)) return { limit: state.limit, noLoadMillis }
  const target = state.limit * slope + settings.queueSize
  const limit = state.limit * (1 - settings.smoothing) + target * settings.smoothing
  return { limit: clamp(settings, limit), noLoadMillis }
}

/** The next state after `window` with the configured algorithm. */
export const nextLimit = (settings: LimitSettings, state: LimitState, window: WindowSummary): LimitState =>
  settings.algorithm === "aimd" ? aimd(settings, state, window) : gradient(settings, state, window)

/**
 * The samples of the current window, aggregated in place (no allocation per call): count, summed
 * duration, peak in-flight, any drop.
 */
export class SampleWindow {
  samples = 0
  private sumMillis = 0
  private maxInFlight = 0
  private dropped = false

  constructor(private startedAt: number) {}

  add(millis: number, inFlight: number, dropped: boolean): void {
    this.samples++
    this.sumMillis += millis
    if (inFlight > this.maxInFlight) this.maxInFlight = inFlight
    if (dropped) this.dropped = true
  }

  /** Closed when it has lasted long enough and holds enough samples. */
  isClosed(settings: LimitSettings, now: number): boolean {
    return this.samples >= settings.minWindowSamples && now - this.startedAt >= settings.windowMillis
  }

  /** The window's summary; the window starts over at `now`. */
  close(now: number): WindowSummary {
    const summary: WindowSummary = {
      samples: this.samples,
      averageMillis: this.sumMillis / this.samples,
      maxInFlight: this.maxInFlight,
      dropped: this.dropped
    }
    this.startedAt = now
    this.samples = 0
    this.sumMillis = 0
    this.maxInFlight = 0
    this.dropped = false
    return summary
  }
}
