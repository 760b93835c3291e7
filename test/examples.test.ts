/**
 * Every program under examples/ runs, and the README's usage example is one of them, verbatim. On both
 * Effect targets: each runs the programs written for it (a first line `// Effect 3` or `// Effect 4`
 * says which; otherwise both), and the HTTP client example in its version.
 */
import { targetMajor } from "#test-port"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { isForEffect } from "./helpers/effectMarker.js"

const root = path.resolve(import.meta.dirname, "..")
const examples = fs.readdirSync(path.join(root, "examples")).filter((file) =>
  file.endsWith(".ts") && isForEffect(fs.readFileSync(path.join(root, "examples", file), "utf8"), targetMajor)
)

/** The example's `program`, from examples/ (by path: the other Effect's version would not compile here). */
const programOf = async <A>(file: string): Promise<Effect.Effect<A>> =>
  (await import(path.join(root, "examples", file)) as { program: Effect.Effect<A> }).program

describe("examples", () => {
  it.each(examples)("%s runs to completion", async (file) => {
    await expect(Effect.runPromise(await programOf(file))).resolves.toBeDefined()
  })

  it("the circuit breaker example opens and refuses fast", async () => {
    const { program } = await import("../examples/circuit-breaker.js")
    const result = await Effect.runPromise(program)
    expect(result.state).toBe("Open")
    expect(result.failureRate).toBe(100)
    expect(result.answer).toMatch(/^refused fast: CircuitBreaker 'payments' is Open/)
  })

  it("the composed guards keep the load on a failing dependency far below naive retries' 3x", async () => {
    const { program } = await import("../examples/composed-guards.js")
    const result = await Effect.runPromise(program)
    expect(result.dependencyCalls).toBeLessThanOrEqual(result.requests) // naive: up to 3 per request
    expect(result.breaker).toBe("Open")
    expect(result.outcomes["CallNotPermittedError"]).toBeGreaterThan(0)
  })

  it("the adaptive example throttles to about k × capacity and is answered by the hedge", async () => {
    const { program } = await import("../examples/adaptive.js")
    const result = await Effect.runPromise(program)
    expect(result.accepted).toBeGreaterThan(80) // the dependency's capacity: 100 of 1000
    expect(result.delivered).toBeLessThan(300) // about 2 × accepted, not 1000 (or 2000 with retries)
    expect(result.answer).toBe("fast replica")
    expect(result.limit).toBeGreaterThanOrEqual(2)
  })

  it("the HTTP client example refuses the failing host fast while the healthy one answers", async () => {
    const file = targetMajor === 3 ? "http-quotes.ts" : "http-quotes-effect4.ts"
    const result = await Effect.runPromise(
      await programOf<{ readonly answers: Array<string>; readonly circuits: Array<string> }>(file)
    )
    expect(result.answers.filter((_, i) => i % 2 === 1)).toEqual(Array(4).fill("ACME at 42"))
    expect(result.answers.filter((_, i) => i % 2 === 0)).toContain("refused fast: CallNotPermittedError")
    expect(result.circuits.sort()).toEqual(["Closed", "Open"])
  })

  it("the typed retry outside a breaker retries the upstream's 503s and gets the quote", async () => {
    const { program } = await import("../examples/typed-retry.js")
    const result = await Effect.runPromise(program)
    expect(result.quote).toEqual({ price: 42 })
    expect(result.calls).toBe(3)
  })

  it("the README's HTTP client and typed retry examples are examples/, verbatim", () => {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
    for (const file of ["http-quotes.ts", "typed-retry.ts"]) {
      expect(readme).toContain("```ts\n" + fs.readFileSync(path.join(root, "examples", file), "utf8") + "```")
    }
  })

  it("the README's usage example is examples/circuit-breaker.ts, verbatim", () => {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
    const example = fs.readFileSync(path.join(root, "examples", "circuit-breaker.ts"), "utf8")
    expect(readme).toContain("```ts\n" + example + "```")
  })
})
