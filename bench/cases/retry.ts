import { Effect } from "effect"
import { Retry, RetryBudget } from "../../src/index.js"
import { effectCase, inScope } from "../floor.js"

const call = Effect.succeed(1)
const failing = Effect.fail("boom")

const plain = inScope(Retry.make({ name: "plain" }))
const budget = Effect.runSync(RetryBudget.make({ name: "budget" }))
const budgeted = inScope(Retry.make({ name: "budgeted", budget }))
const notRetried = inScope(Retry.make({ name: "not-retried", retryOn: () => false }))

/** Ratios are reported against the floor of the same outcome (`failure` in the name → failure floor). */
export const cases = [
  effectCase("retry, success without retry", Retry.withRetry(call, plain)),
  effectCase("retry with budget, success without retry", Retry.withRetry(call, budgeted)),
  effectCase("retry, failure not retried", Retry.withRetry(failing, notRetried))
]
