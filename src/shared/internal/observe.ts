/**
 * What observability needs from the guards, kept cheap on their hot paths: plain cumulative counters
 * the guards bump inside their synchronous handlers (read, and turned into `Metric`s, only when
 * someone collects), and a synchronous look at the calling fiber's span (nothing is done when there
 * is none).
 *
 * @internal
 */
import { currentFiberSpan } from "#port"
import type * as Tracer from "effect/Tracer"

/** Upper bounds (millis) of the call-duration buckets: Prometheus' default buckets, in millis. */
export const DURATION_BOUNDS_MILLIS: ReadonlyArray<number> = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]

const BUCKETS = DURATION_BOUNDS_MILLIS.length + 1

/** The outcome kinds a breaker times, in the order of the circuit machine's `Outcome` constants. */
export const CALL_KINDS = ["successful", "failed", "ignored"] as const

/**
 * Cumulative call counts per outcome kind, with the call durations in fixed buckets: per kind, the
 * count and the summed duration of each bucket (so a histogram can be rebuilt with an exact sum).
 * O(1), allocation-free per call.
 */
export class CallTimings {
  // One plain array per outcome kind, made on that kind's first call and only as long as the slowest
  // bucket it has seen: count and summed duration of bucket 0, then of bucket 1, and so on. An idle
  // breaker (one of many thousands) holds none, and one whose calls all take under 5 ms holds two
  // numbers (~64 bytes) where all twelve buckets would take ~240.
  private successful: Array<number> | undefined
  private failed: Array<number> | undefined
  private ignored: Array<number> | undefined

  private of(kind: number): Array<number> | undefined {
    return kind === 0 ? this.successful : kind === 1 ? this.failed : this.ignored
  }

  /** The kind's array, grown (exactly) to hold `bucket`. */
  private grown(kind: number, bucket: number): Array<number> {
    const previous = this.of(kind)
    const slots = bucket === 0 ? [0, 0] : new Array<number>((bucket + 1) * 2).fill(0)
    if (previous !== undefined) { for (let i = 0; i < previous.length; i++) slots[i] = previous[i]! }
    if (kind === 0) this.successful = slots
    else if (kind === 1) this.failed = slots
    else this.ignored = slots
    return slots
  }

  /** `kind` is 0 (successful), 1 (failed) or 2 (ignored). */
  record(kind: number, millis: number): void {
    let bucket = 0
    while (bucket < BUCKETS - 1 && millis > DURATION_BOUNDS_MILLIS[bucket]!) bucket++
    let slots = this.of(kind)
    const at = bucket * 2
    if (slots === undefined || slots.length <= at) slots = this.grown(kind, bucket)
    slots[at]!++
    slots[at + 1]! += millis
  }

  /** Calls in `slot` (`kind * DURATION_BUCKETS + bucket`) so far. */
  count(slot: number): number {
    return this.of(Math.floor(slot / BUCKETS))?.[(slot % BUCKETS) * 2] ?? 0
  }

  /** Summed durations (millis) of the calls in `slot` so far. */
  sum(slot: number): number {
    return this.of(Math.floor(slot / BUCKETS))?.[(slot % BUCKETS) * 2 + 1] ?? 0
  }

  /** Calls of `kind` so far. */
  total(kind: number): number {
    const slots = this.of(kind)
    if (slots === undefined) return 0
    let total = 0
    for (let i = 0; i < slots.length; i += 2) total += slots[i]!
    return total
  }
}

/** The number of duration buckets (the last is unbounded). */
export const DURATION_BUCKETS = BUCKETS

/**
 * The calling fiber's current span, when it is one of Effect's own (`ExternalSpan`s cannot take
 * attributes). Must be called while the fiber runs (inside `Effect.suspend` or a match handler).
 */
export const currentSpan = (): Tracer.Span | undefined => {
  const span = currentFiberSpan()
  return span !== undefined && span._tag === "Span" ? span : undefined
}

/** Adds a span event stamped with the span's clock, in nanoseconds. */
export const spanEvent = (
  span: Tracer.Span,
  nowMillis: number,
  name: string,
  attributes: Record<string, unknown>
): void => span.event(name, BigInt(Math.round(nowMillis)) * 1_000_000n, attributes)
