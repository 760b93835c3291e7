/**
 * Reading `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP-date.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

const DELTA_SECONDS = /^\s*(\d{1,10})\s*$/

/**
 * The wait a `Retry-After` value asks for, relative to `nowMillis`: delta-seconds (`"120"`) or an
 * HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`, a date in the past meaning 0). Anything else (empty,
 * negative, fractional, garbage, absurdly long) is none.
 */
export const parseRetryAfter = (value: string | undefined, nowMillis: number): Option.Option<Duration.Duration> => {
  if (value === undefined || value.length === 0 || value.length > 64) return Option.none()
  const delta = DELTA_SECONDS.exec(value)
  if (delta !== null) return Option.some(Duration.seconds(Number(delta[1])))
  // An HTTP-date always names a weekday and "GMT"; Date.parse alone accepts far too much.
  if (!/^\s*[A-Za-z]{3},/.test(value) || !/GMT\s*$/.test(value)) return Option.none()
  const at = Date.parse(value)
  if (Number.isNaN(at)) return Option.none()
  return Option.some(Duration.millis(Math.max(0, at - nowMillis)))
}
