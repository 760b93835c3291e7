/**
 * Every package `src/` loads at run time is one a user is told to install: `effect`, a Node built-in,
 * or a declared peer (issue 14: `@opentelemetry/api` was imported but declared nowhere, and the
 * consumer app, which installs every peer, could not notice). Type-only imports are erased and exempt.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "..")
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
  readonly peerDependencies: Record<string, string>
  readonly dependencies?: Record<string, string>
  readonly imports?: Record<string, unknown>
}

const sources = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(path.join(dir, entry.name))
      : entry.name.endsWith(".ts")
      ? [path.join(dir, entry.name)]
      : []
  )

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`). */
const packageOf = (specifier: string) => specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/")

/** Runtime imports of a file: `import x from`, `import { a } from`, `export ... from`; not `import type`. */
const runtimeImports = (file: string): Array<string> => {
  // Leave JSDoc examples out: they are the user's code, not ours.
  const code = fs.readFileSync(file, "utf8").replace(/\/\*\*[\s\S]*?\*\//g, "")
  return [...code.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+"([^"]+)"/gm)]
    .map((m) => m[1]!)
    .filter((specifier) => !specifier.startsWith("."))
}

describe("runtime dependencies", () => {
  const declared = new Set([...Object.keys(pkg.peerDependencies), ...Object.keys(pkg.dependencies ?? {})])
  const all = sources(path.join(root, "src")).flatMap((file) =>
    runtimeImports(file).map((specifier) => ({ file: path.relative(root, file), specifier }))
  )

  it("finds the imports it checks", () => {
    expect(all.some((i) => i.specifier === "ioredis")).toBe(true)
    expect(all.some((i) => packageOf(i.specifier) === "@opentelemetry/api")).toBe(true)
  })

  it("every package src/ loads at run time is effect, a Node built-in, a declared peer, or the package's own #import", () => {
    // `#port` (the per-Effect-version port) resolves through package.json "imports", each package to its own.
    const undeclared = all.filter(({ specifier }) =>
      specifier.startsWith("#")
        ? !Object.hasOwn(pkg.imports ?? {}, specifier)
        : !specifier.startsWith("node:") && !declared.has(packageOf(specifier))
    )
    expect(undeclared).toEqual([])
  })

  it("ResilientHttpClient needs only @effect/platform: Node's HTTP layer is behind NodeResilientHttpClient", () => {
    const http = all.filter((i) => i.file === path.join("src", "http", "ResilientHttpClient.ts"))
    expect(http.map((i) => packageOf(i.specifier)).filter((p) => p !== "effect" && p !== "@effect/platform"))
      .toEqual([])
  })
})
