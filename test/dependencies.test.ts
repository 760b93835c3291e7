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

/** The Effect 3 port module a `#port…` specifier resolves to through package.json "imports", if any. */
const portModule = (specifier: string): string | undefined => {
  for (const key of Object.keys(pkg.imports ?? {})) {
    const [before, after] = key.split("*") as [string, string | undefined]
    const name = after === undefined
      ? (specifier === key ? "index" : undefined)
      : specifier.startsWith(before) && specifier.endsWith(after)
      ? specifier.slice(before.length, specifier.length - after.length)
      : undefined
    const file = name === undefined ? undefined : path.join(root, "src", "port", "effect3", `${name}.ts`)
    if (file !== undefined && fs.existsSync(file)) return file
  }
  return undefined
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
    // `#port` and `#port/<name>` (the per-Effect-version ports) resolve through package.json "imports",
    // each package to its own: the key itself or a `*` pattern, onto a port module that exists.
    const undeclared = all.filter(({ specifier }) =>
      specifier.startsWith("#")
        ? portModule(specifier) === undefined
        : !specifier.startsWith("node:") && !declared.has(packageOf(specifier))
    )
    expect(undeclared).toEqual([])
  })

  it("ResilientHttpClient needs only the platform's HTTP client: Node's HTTP layer is behind NodeResilientHttpClient", () => {
    // Its own imports, and those of the sub-ports it reaches, on each Effect: @effect/platform on 3,
    // effect itself (effect/http) on 4; never @effect/platform-node or undici.
    const own = runtimeImports(path.join(root, "src", "http", "ResilientHttpClient.ts"))
    const subPorts = own.filter((s) => s.startsWith("#port/"))
    expect(subPorts).toContain("#port/httpClient")
    for (const [version, allowed] of [["effect3", ["effect", "@effect/platform"]], ["effect4", ["effect"]]] as const) {
      const reached = [
        ...own.filter((s) => !s.startsWith("#")),
        ...subPorts.flatMap((s) => runtimeImports(path.join(root, "src", "port", version, `${s.slice(6)}.ts`)))
      ]
      expect(
        reached.map(packageOf).filter((p) => !(allowed as ReadonlyArray<string>).includes(p) && !p.startsWith("."))
      ).toEqual([])
    }
  })
})
