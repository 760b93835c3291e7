import { failureOf, Service } from "#port"
import { itScoped } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, Exit, Option } from "effect"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as Policy from "../src/shared/Policy.js"

class Refused extends Data.TaggedError("Refused")<{ readonly by: string }> {}
class Needed extends Service<Needed, string>()("Needed") {}

/** A policy that logs its name around the call into `trace`, so nesting order is visible. */
const tracing = (name: string, trace: Array<string>): Policy.Policy => (self) =>
  Effect.suspend(() => {
    trace.push(`${name}>`)
    return Effect.ensuring(self, Effect.sync(() => trace.push(`<${name}`)))
  })

describe("Policy.compose", () => {
  it.effect("applies policies outermost first", () =>
    Effect.gen(function*() {
      const trace: Array<string> = []
      const guard = Policy.compose(tracing("a", trace), tracing("b", trace), tracing("c", trace))
      const result = yield* guard(Effect.sync(() => trace.push("call")).pipe(Effect.as(42)))
      expect(result).toBe(42)
      expect(trace).toEqual(["a>", "b>", "c>", "call", "<c", "<b", "<a"])
    }))

  it.effect("keeps the union of added errors and requirements in the type", () =>
    Effect.gen(function*() {
      const refuse = (by: string): Policy.Policy<Refused> => () => Effect.fail(new Refused({ by }))
      const needs: Policy.Policy<never, Needed> = (self) => Effect.andThen(Needed, self)
      const guard = Policy.compose(needs, refuse("outer"), refuse("inner"))
      const guarded = guard(Effect.fail("original" as const))
      // The declared type is the contract under test: a wrong union would not compile.
      const typed: Effect.Effect<never, "original" | Refused, Needed> = guarded
      const exit = yield* Effect.exit(typed.pipe(Effect.provideService(Needed, "here")))
      expect(exit).toEqual(Exit.fail(new Refused({ by: "outer" })))
    }))

  it("refuses to compile an outer policy that cannot accept errors its inner policies add", () => {
    class HttpError extends Data.TaggedError("HttpError")<{ readonly status: number }> {}
    const onlyHttp: Policy.Policy<never, never, HttpError> = (self) => self
    const refusing: Policy.Policy<Refused> = () => Effect.fail(new Refused({ by: "inner" }))
    // @ts-expect-error onlyHttp's predicates are written for HttpError, but `refusing` adds Refused
    Policy.compose(onlyHttp, refusing)
    // The other way round is fine: the refusal is added outside the typed policy.
    const guard = Policy.compose(refusing, onlyHttp)
    const typed: Effect.Effect<never, HttpError | Refused> = guard(Effect.fail(new HttpError({ status: 503 })))
    expect(Effect.isEffect(typed)).toBe(true)
  })

  it.effect("with no policies is the identity", () =>
    Effect.gen(function*() {
      expect(yield* Policy.compose()(Effect.succeed("same"))).toBe("same")
    }))
})

describe("Policy.ordered", () => {
  it.effect("applies roles in Resilience4j's order whatever the record's order", () =>
    Effect.gen(function*() {
      const trace: Array<string> = []
      const guard = Policy.ordered({
        bulkhead: tracing("bulkhead", trace),
        rateLimiter: tracing("rateLimiter", trace),
        retry: tracing("retry", trace),
        timeLimiter: tracing("timeLimiter", trace),
        circuitBreaker: tracing("circuitBreaker", trace)
      })
      yield* guard(Effect.void)
      expect(trace.filter((t) => t.endsWith(">"))).toEqual([
        "retry>",
        "circuitBreaker>",
        "rateLimiter>",
        "timeLimiter>",
        "bulkhead>"
      ])
      expect(Policy.resilience4jOrder).toEqual(["retry", "circuitBreaker", "rateLimiter", "timeLimiter", "bulkhead"])
    }))

  itScoped("skips absent roles and carries the guards' errors", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "ordered" })
      yield* breaker.transitionToForcedOpen
      const trace: Array<string> = []
      const guard = Policy.ordered({ circuitBreaker: CircuitBreaker.policy(breaker), retry: tracing("retry", trace) })
      const exit = yield* Effect.exit(guard(Effect.succeed(1)))
      expect(trace).toEqual(["retry>", "<retry"])
      expect(Exit.isFailure(exit) && Option.getOrUndefined(failureOf(exit.cause))?._tag).toBe("CallNotPermittedError")
    }))
})
