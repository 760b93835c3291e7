/**
 * opossum 9 (Promise-based, Node's EventEmitter): with the timeout off and with its default (10 s, a
 * timer per call), natively (`await breaker.fire()`) and from Effect (`Effect.tryPromise`).
 */
import { Effect } from "effect"
import CircuitBreaker from "opossum"
import { asyncEffectCase, atTeardown, promiseCase } from "../../floor.js"
import type { Case } from "../../harness.js"
import { Ours } from "./names.js"

const value = async () => 1
const failing = async () => {
  throw new Error("boom")
}

const make = (action: () => Promise<number>, options: CircuitBreaker.Options) => {
  const breaker = new CircuitBreaker(action, options)
  atTeardown(() => breaker.shutdown())
  return breaker
}

const noTimeout = make(value, { timeout: false })
const defaults = make(value, {})
// Failing calls that never trip: the volume threshold is never reached.
const tolerant = make(failing, { timeout: false, volumeThreshold: Number.MAX_SAFE_INTEGER })
const open = make(value, { timeout: false, resetTimeout: 3_600_000 })
open.open()

const both = (name: string, run: () => Promise<unknown>, ours: string): Array<Case> => [
  promiseCase(`opossum ${name} (native await)`, run, { ours }),
  asyncEffectCase(`opossum ${name} (from Effect)`, Effect.tryPromise(run), { ours })
]

export const breakerCases: ReadonlyArray<Case> = [
  ...both("timeout off, success", () => noTimeout.fire(), Ours.breakerCount),
  ...both("default options (10 s timeout), success", () => defaults.fire(), Ours.breakerCount)
]

export const failureCases: ReadonlyArray<Case> = [
  ...both("failure recorded", () => tolerant.fire(), Ours.breakerFailure),
  ...both("open, refusal", () => open.fire(), Ours.breakerOpen)
]
