import { Effect } from "effect"
import { Bulkhead } from "../../src/index.js"
import { effectCase, inScope } from "../floor.js"
import { Ours } from "./peers/names.js"

const call = Effect.succeed(1)

const roomy = inScope(Bulkhead.make({ name: "roomy", maxConcurrentCalls: 25 }))
// No slot at all and no wait: every call is refused at once.
const full = inScope(Bulkhead.make({ name: "full", maxConcurrentCalls: 0 }))

/** Ratios are reported against the floor of the same outcome (`refus` in the name → failure floor). */
export const cases = [
  effectCase(Ours.bulkhead, Bulkhead.withBulkhead(call, roomy)),
  effectCase(Ours.bulkheadFull, Bulkhead.withBulkhead(call, full))
]
