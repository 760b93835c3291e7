import { itScoped, replaceLogger } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Logger } from "effect"
import { InvalidConfigError } from "../src/errors/InvalidConfigError.js"
import * as Bulkhead from "../src/guards/Bulkhead.js"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as Registry from "../src/registry/Registry.js"

describe("InvalidConfigError", () => {
  it.effect("keeps its class name; the guard's name is in guardName", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(CircuitBreaker.make({ name: "payments", failureRateThreshold: 150 }))
      )
      expect(error).toBeInstanceOf(InvalidConfigError)
      expect(error.name).toBe("InvalidConfigError")
      expect(error._tag).toBe("InvalidConfigError")
      expect(error.guard).toBe("CircuitBreaker")
      expect(error.guardName).toBe("payments")
      expect(String(error)).toMatch(/^InvalidConfigError: Invalid CircuitBreaker 'payments' configuration: /)
      expect(error.stack ?? "").toMatch(/^InvalidConfigError: /)
    }))

  it.effect("a logged Cause reads InvalidConfigError, not the guard's name", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.make(({ cause }) => {
        lines.push(Cause.pretty(cause))
      })
      const exit = yield* Effect.exit(Effect.scoped(Bulkhead.make({ name: "db", maxConcurrentCalls: -1 })))
      if (exit._tag === "Success") throw new Error("expected a failure")
      yield* Effect.logError(exit.cause).pipe(replaceLogger(capture))
      const logged = lines.join("\n")
      expect(logged).toContain("InvalidConfigError: Invalid Bulkhead 'db' configuration: maxConcurrentCalls = -1")
      expect(logged).not.toMatch(/^db: /m)
    }))

  itScoped(
    "a Registry specification with several bad guards is refused as a whole, naming each field",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make()
        yield* registry.circuitBreaker("a")
        yield* registry.bulkhead("b")
        const error = yield* Effect.flip(registry.reload({
          circuitBreaker: { instances: { a: { failureRateThreshold: 0 } } },
          bulkhead: { instances: { b: { maxConcurrentCalls: -1 } } }
        }))
        expect(error.name).toBe("InvalidConfigError")
        // The whole specification is checked before any guard changes (as Spring checks it at startup).
        expect(error.guard).toBe("Registry")
        expect(error.guardName).toBe("spec")
        expect(error.issues.map((i) => i.field).sort()).toEqual([
          "bulkhead.instances.b.maxConcurrentCalls",
          "circuitBreaker.instances.a.failureRateThreshold"
        ])
      })
  )
})
