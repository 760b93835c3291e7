/**
 * The source layout is the architecture (README, "Source layout"): each folder of `src/` is a layer,
 * and a module imports only from its own folder or from a layer below it. This test reads every import
 * of every source file — static, `export ... from`, `import type`, dynamic `import()` and `import("…")`
 * types, as TypeScript's own pre-processor finds them (comments and strings are skipped) — and fails,
 * naming the file and the import, on an upward or sideways import, on an import circle, on a pure core
 * that imports anything but another pure core, and on a source file over 600 lines. The circle and the
 * long files that remain are listed by name below; the lists may only shrink.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"
import { describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "..")
const src = path.join(root, "src")

/**
 * The layers, lowest first. A file may import from its own folder and from any folder of a lower
 * layer. Folders that share a layer (the integrations) are siblings: neither imports the other.
 * `errors` holds the public error types every layer (the ports included) raises; `port` the code per
 * Effect version (`port/effect3`, `port/effect4`: siblings, reached by shared code as "#port").
 */
const layers: ReadonlyArray<{ readonly name: string; readonly folders: ReadonlyArray<string> }> = [
  { name: "pure decision cores", folders: ["core"] },
  { name: "errors", folders: ["errors"] },
  { name: "per-Effect-version ports", folders: ["port"] },
  { name: "shared vocabulary", folders: ["shared"] },
  { name: "store interfaces", folders: ["store"] },
  { name: "guards", folders: ["guards"] },
  { name: "registry", folders: ["registry"] },
  { name: "observability", folders: ["observability"] },
  { name: "integrations", folders: ["http", "redis", "dashboard"] },
  { name: "public barrel", folders: ["index.ts"] }
]

/**
 * Circles that remain, to be broken; none may be added. (The last one, CircuitBreaker.ts with
 * distributedCircuitBreaker.ts, went when the breaker's vocabulary moved to circuitBreakerApi.ts.)
 */
const knownCircles: ReadonlyArray<ReadonlyArray<string>> = []

const maxLines = 600
/** Source files over `maxLines` that remain, to be split; the list may only shrink. */
const knownLongFiles: ReadonlyArray<string> = []

const files = fs.readdirSync(src, { recursive: true, encoding: "utf8" })
  .map((file) => file.split(path.sep).join("/"))
  .filter((file) => /\.(ts|js|css)$/.test(file))
const modules = files.filter((file) => file.endsWith(".ts"))
const named = (file: string) => `src/${file}`

const rankOf = (file: string): number => layers.findIndex((layer) => layer.folders.includes(file.split("/")[0]!))
const folderOf = (file: string) => file.split("/")[0]!

interface Import {
  readonly from: string
  readonly specifier: string
  /** The imported source file (relative to src/), or undefined for a package. */
  readonly to: string | undefined
}

const importsOf = (file: string): Array<Import> =>
  ts.preProcessFile(fs.readFileSync(path.join(src, file), "utf8"), true, true).importedFiles.map(({ fileName }) => {
    if (!fileName.startsWith(".")) return { from: file, specifier: fileName, to: undefined }
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), fileName.replace(/\.js$/, ".ts")))
    return { from: file, specifier: fileName, to: target }
  })

const imports = modules.flatMap(importsOf)
const inside = imports.filter((i): i is Import & { readonly to: string } => i.to !== undefined)

/** Strongly connected components of more than one file (Tarjan). */
const circles = (): Array<Array<string>> => {
  const edges = new Map(modules.map((file) => [file, inside.filter((i) => i.from === file).map((i) => i.to)]))
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: Array<string> = []
  const onStack = new Set<string>()
  const found: Array<Array<string>> = []
  const visit = (file: string) => {
    index.set(file, index.size)
    low.set(file, index.get(file)!)
    stack.push(file)
    onStack.add(file)
    for (const next of edges.get(file) ?? []) {
      if (!index.has(next)) {
        visit(next)
        low.set(file, Math.min(low.get(file)!, low.get(next)!))
      } else if (onStack.has(next)) low.set(file, Math.min(low.get(file)!, index.get(next)!))
    }
    if (low.get(file) === index.get(file)) {
      const component: Array<string> = []
      let member: string
      do {
        member = stack.pop()!
        onStack.delete(member)
        component.push(named(member))
      } while (member !== file)
      if (component.length > 1) found.push(component.sort())
    }
  }
  for (const file of modules) if (!index.has(file)) visit(file)
  return found
}

const describeImport = (i: Import) => `${named(i.from)} imports "${i.specifier}"`

describe("source layout", () => {
  it("finds the imports it checks", () => {
    expect(modules.length).toBeGreaterThan(80)
    expect(inside.some((i) => i.from === "guards/internal/rateLimiterImpl.ts" && i.to === "core/rateLimiterCore.ts"))
      .toBe(true)
    // type-only and `import("…")` type imports count too
    expect(imports.some((i) => i.from === "store/CircuitBreakerStore.ts" && i.to === "core/circuitMachine.ts")).toBe(
      true
    )
  })

  it("places every source file in a layer", () => {
    expect(files.filter((file) => rankOf(file) < 0).map(named)).toEqual([])
  })

  it("resolves every relative import to a source file", () => {
    expect(inside.filter((i) => !fs.existsSync(path.join(src, i.to))).map(describeImport)).toEqual([])
  })

  it("imports only from the same folder or a lower layer", () => {
    const wrong = inside.filter((i) => {
      if (folderOf(i.from) === folderOf(i.to)) return false
      return rankOf(i.to) >= rankOf(i.from)
    })
    expect(
      wrong.map((i) =>
        `${describeImport(i)}: ${layers[rankOf(i.from)]!.name} may not import ${layers[rankOf(i.to)]!.name}` +
        (rankOf(i.to) === rankOf(i.from) ? ` (${folderOf(i.to)}/ is a sibling)` : "")
      )
    ).toEqual([])
  })

  it("keeps the pure decision cores free of Effect, packages and every other layer", () => {
    const impure = imports.filter((i) =>
      folderOf(i.from) === "core" && (i.to === undefined || folderOf(i.to) !== "core")
    )
    expect(impure.map(describeImport)).toEqual([])
  })

  it("keeps each Effect version's port to itself: shared code reaches a port only through \"#port\"", () => {
    // port/effect3 and port/effect4 are siblings compiled for different Effects; every other module is
    // written once for both and reaches its Effect's port as "#port" (each build resolves it).
    const versionOf = (file: string) => file.startsWith("port/effect") ? file.split("/")[1] : undefined
    const crossing = inside.filter((i) => versionOf(i.to) !== undefined && versionOf(i.from) !== versionOf(i.to))
    expect(crossing.map(describeImport)).toEqual([])
  })

  it("has no import circle but the known ones, and each known one still exists", () => {
    const found = circles()
    const key = (circle: ReadonlyArray<string>) => [...circle].sort().join(" <-> ")
    const known = new Set(knownCircles.map(key))
    expect(found.map(key).filter((circle) => !known.has(circle))).toEqual([])
    expect([...known].filter((circle) => !found.map(key).includes(circle))).toEqual([])
  })

  it(`has no source file over ${maxLines} lines but the known ones, and each known one is still long`, () => {
    const long = files.filter((file) => fs.readFileSync(path.join(src, file), "utf8").split("\n").length > maxLines)
      .map(named)
    expect(long.filter((file) => !knownLongFiles.includes(file))).toEqual([])
    expect(knownLongFiles.filter((file) => !long.includes(file))).toEqual([])
  })
})
