/**
 * The HTTP client's rule between option fields (test/CrossField.test.ts has the guards'). Apart from it
 * because src/http is not yet on Effect 4 (it joins the Effect 4 suites once it is).
 */
import { itScoped } from "#test-port"
import { describe, expect } from "@effect/vitest"
import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
import { Effect } from "effect"

const fields = <A, E extends { readonly issues: ReadonlyArray<{ readonly field: string }> }, R>(
  self: Effect.Effect<A, E, R>
) => Effect.map(Effect.flip(self), (e) => e.issues.map((i) => i.field))

describe("cross-field rules", () => {
  itScoped(
    "HTTP client: a per-attempt timeout longer than the total timeout is rejected, naming attemptTimeout",
    () =>
      Effect.gen(function*() {
        expect(
          yield* fields(
            ResilientHttpClient.make({ name: "h", attemptTimeout: "10 seconds", totalTimeout: "5 seconds" })
          )
        )
          .toEqual(["attemptTimeout"])
        // Equal is allowed: one attempt may use the whole budget.
        yield* ResilientHttpClient.make({ name: "h", attemptTimeout: "5 seconds", totalTimeout: "5 seconds" })
      })
  )
})
