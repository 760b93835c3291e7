/**
 * breakwater as a user gets it: `npm pack`, the tarball installed into a throw-away app (strict
 * tsconfig, NodeNext) at the lowest and the highest end of the supported effect range, with one copy
 * of effect; every README example (fenced blocks and inline `Module.make({...})` snippets) and the
 * examples/ programs type-checked and run there; an @effect/vitest test under TestClock run there; the
 * exports map (every public subpath resolves, every `internal` path is refused); a cold
 * `import("breakwater")` that loads no ioredis, OpenTelemetry or undici module; and what the tarball
 * holds. Real npm, tsc and node processes (bounded by the timeouts below); npm reaches the registry only
 * for what its cache lacks (the highest end is the repo's lock file, cached by `npm ci`).
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  effectCopies,
  type End,
  ends,
  install,
  pack,
  type Packed,
  packEffect4,
  root,
  run,
  runAsync,
  typeCheck
} from "./helpers/consumerApp.js"
import { isForEffect } from "./helpers/effectMarker.js"

const work = fs.mkdtempSync(path.join(os.tmpdir(), "breakwater-consumer-"))
/** The tarball of each package: Effect 3's (major N) and Effect 4's (major N + 1). */
const packed = new Map<3 | 4, Packed>()
const tarballOf = (major: 3 | 4): Packed => packed.get(major)!
const appOf = (end: string) => path.join(work, end)

/** The integrations and the source file behind each flat subpath. */
const integrations: Record<string, string> = {
  ResilientHttpClient: "http/ResilientHttpClient",
  NodeResilientHttpClient: "http/NodeResilientHttpClient",
  RateLimitMiddleware: "http/RateLimitMiddleware",
  Dashboard: "dashboard/Dashboard",
  Prometheus: "observability/Prometheus",
  RedisStore: "redis/RedisStore"
}
/** Modules re-exported through `Store` (the store interfaces): public, but no subpath of their own. */
const throughStore = new Set(["store/CircuitBreakerStore", "store/RateLimiterStore"])

interface Snippet {
  readonly name: string
  readonly source: string
  /** Blocks that only `declare` their inputs compile but cannot run. */
  readonly runnable: boolean
}

/** The README's fenced ```ts blocks and its inline `Module.make({ ... })` snippets. */
const readmeSnippets = (): Array<Snippet> => {
  const text = fs.readFileSync(path.join(root, "README.md"), "utf8")
  const fenced = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((block, i) => ({
    name: `readme_${i}`,
    source: block[1]!,
    runnable: !/^declare /m.test(block[1]!)
  }))
  const inline = [...text.matchAll(/`([A-Z][A-Za-z]+)\.make\((\{[^`]*\})?\)`/g)].map((match, i) => {
    const module = match[1]!
    const from = integrations[module] === undefined ?
      `import { ${module} } from "breakwater"` :
      `import * as ${module} from "breakwater/${module}"`
    return {
      name: `inline_${i}`,
      source: `${from}\nimport { Effect } from "effect"\n\nexport const program = Effect.scoped(${
        match[0].slice(1, -1)
      })\n`,
      runnable: true
    }
  })
  return [...fenced, ...inline]
}

/** An @effect/vitest test under TestClock, as a user writes one, on Effect 3 and on Effect 4. */
const clockTest: Record<3 | 4, string> = {
  3: `import { it } from "@effect/vitest"
import { CircuitBreaker } from "breakwater"
import { Duration, Effect, TestClock } from "effect"
import { expect } from "vitest"

it.scoped("the breaker half-opens after its wait, in virtual time", () =>
  Effect.gen(function*() {
    const breaker = yield* CircuitBreaker.make({ name: "payments", waitDurationInOpenState: "30 seconds" })
    yield* breaker.transitionToOpen
    expect(yield* breaker.state).toBe("Open")
    yield* TestClock.adjust(Duration.seconds(31))
    yield* Effect.succeed(1).pipe(CircuitBreaker.withCircuitBreaker(breaker))
    expect(yield* breaker.state).toBe("HalfOpen")
  }))
`,
  // @effect/vitest 4: it.effect provides the Scope; TestClock lives in effect/testing.
  4: `import { it } from "@effect/vitest"
import { CircuitBreaker } from "breakwater"
import { Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
import { expect } from "vitest"

it.effect("the breaker half-opens after its wait, in virtual time", () =>
  Effect.gen(function*() {
    const breaker = yield* CircuitBreaker.make({ name: "payments", waitDurationInOpenState: "30 seconds" })
    yield* breaker.transitionToOpen
    expect(yield* breaker.state).toBe("Open")
    yield* TestClock.adjust(Duration.seconds(31))
    yield* Effect.succeed(1).pipe(CircuitBreaker.withCircuitBreaker(breaker))
    expect(yield* breaker.state).toBe("HalfOpen")
  }))
`
}

/** One import of every public subpath, so that each one's `types` entry is type-checked too. */
const subpathImports = () => {
  const { exports } = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
    exports: Record<string, unknown>
  }
  const subpaths = Object.keys(exports).filter((key) => key !== "." && key !== "./package.json")
  return subpaths.map((key, i) => `import * as M${i} from "breakwater/${key.slice(2)}"\n`).join("") +
    `export const modules = [${subpaths.map((_, i) => `M${i}`).join(", ")}]\n` +
    `export const everyModuleHasExports: boolean = modules.every((m) => Object.keys(m).length > 0)\n`
}

/** Runs every runnable snippet's `program` (when it exports one); prints what failed, by name. */
const runner = (names: ReadonlyArray<string>) =>
  `import { Effect } from "effect"
const failed: Record<string, string> = {}
for (const name of ${JSON.stringify(names)}) {
  try {
    const module = await import(\`./\${name}.js\`)
    if (Effect.isEffect(module.program)) await Effect.runPromise(Effect.timeout(module.program, "20 seconds"))
  } catch (error) {
    failed[name] = String(error).slice(0, 300)
  }
}
console.log("RESULT " + JSON.stringify({ ran: ${JSON.stringify(names)}.length, failed }))
`

/** Imports `specifier` in a fresh node inside the app; prints the loaded modules (ESM and CommonJS). */
const loadRecorder = `import { createRequire, register } from "node:module"
import { MessageChannel } from "node:worker_threads"
const { port1, port2 } = new MessageChannel()
const loaded = new Set()
port1.on("message", (url) => loaded.add(url))
const hooks = "let port; export function initialize(data) { port = data.port }" +
  "export async function resolve(s, c, next) { const r = await next(s, c); port.postMessage(r.url); return r }"
register("data:text/javascript," + encodeURIComponent(hooks), { data: { port: port2 }, transferList: [port2] })
await import(process.argv[2])
// The hooks thread posts asynchronously: a short real-clock wait lets the last messages arrive.
await new Promise((resolve) => setTimeout(resolve, 200))
port1.close()
for (const file of Object.keys(createRequire(import.meta.url).cache)) loaded.add(file)
console.log(JSON.stringify([...loaded]))
`

/** Tries each specifier in the app; prints the error code of each (or "ok"). */
const resolver = `const out = {}
for (const specifier of JSON.parse(process.argv[2])) {
  const json = specifier.endsWith(".json") ? { with: { type: "json" } } : undefined
  try { await import(specifier, json); out[specifier] = "ok" } catch (e) { out[specifier] = e.code ?? String(e) }
}
console.log(JSON.stringify(out))
`

const heavy =
  /node_modules[\\/](ioredis|undici|@opentelemetry|@effect[\\/]opentelemetry|@effect[\\/]platform-node)[\\/]/

/**
 * Each end's app, installed and type-checked (`typeCheck` also emits it): both ends side by side, started
 * once the tarball is packed; each end's tests wait for their own.
 */
interface Prepared {
  readonly installed: Promise<void>
  readonly problems: Promise<Array<string>>
  /** The output of the app's own vitest running its TestClock test. */
  readonly clockTest: Promise<string>
}
const prepared = new Map<string, Prepared>()

beforeAll(() => {
  packed.set(3, pack(work))
  packed.set(4, packEffect4(work))
  for (const end of ends) {
    const installed = prepareApp(appOf(end.name), end)
    // Rejections are reported by the tests that await these, not as unhandled.
    installed.catch(() => {})
    const problems = installed.then(() => typeCheck(appOf(end.name)))
    problems.catch(() => {})
    const vitest = path.join(appOf(end.name), "node_modules", "vitest", "vitest.mjs")
    const clockTest = installed.then(() =>
      runAsync(end.node, [vitest, "run", "src/clock.test.ts"], { cwd: appOf(end.name), timeout: 120_000 })
    )
    clockTest.catch(() => {})
    prepared.set(end.name, { installed, problems, clockTest })
  }
}, 240_000)

afterAll(() => {
  // Two installed apps take a while to delete on a busy disk: a detached rm does it after the suite.
  spawn("rm", ["-rf", work], { detached: true, stdio: "ignore" }).unref()
})

describe.each([3, 4] as const)("the packed tarball for Effect %i", (major) => {
  it("holds no test, demo, bench or example file, and every source map resolves inside the package", () => {
    const files = tarballOf(major).files.map((f) => f.path)
    expect(files).toContain("dist/index.js")
    expect(files).toContain("LICENSE")
    // The Grafana dashboard the README's import steps name, under node_modules/breakwater/grafana/.
    expect(files).toContain("grafana/breakwater.json")
    expect(files.filter((f) => /^(test|demo|bench|examples|docs)\/|\.test\.|__doc_examples__/.test(f))).toEqual([])
    const extracted = path.join(work, `extracted-${major}`)
    fs.mkdirSync(extracted)
    run("tar", ["-xzf", tarballOf(major).tarball, "-C", extracted])
    const outside: Array<string> = []
    const maps = files.filter((f) => f.endsWith(".map"))
    expect(maps.length).toBeGreaterThan(0)
    for (const map of maps) {
      const { sources } = JSON.parse(fs.readFileSync(path.join(extracted, "package", map), "utf8")) as {
        sources: Array<string>
      }
      for (const source of sources) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(map), source))
        if (!files.includes(target)) outside.push(`${map} -> ${source}`)
      }
    }
    expect(outside).toEqual([])
  })

  it("exports the same subpaths as the Effect 3 package, and names its own Effect as a peer", () => {
    type Manifest = { exports: Record<string, unknown>; peerDependencies: Record<string, string> }
    const ours = JSON.parse(run("tar", ["-xzOf", tarballOf(major).tarball, "package/package.json"])) as Manifest
    const effect3 = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as Manifest
    expect(Object.keys(ours.exports).sort()).toEqual(Object.keys(effect3.exports).sort())
    expect(ours.peerDependencies["effect"]).toMatch(major === 3 ? /^\^3\./ : /^\^4\./)
  })
})

describe("the repository's package.json", () => {
  it("the repo's own package.json selects no test, demo, bench or example file either", () => {
    // The tarball above is packed from a copy holding only what a package needs; this asks npm what it
    // would pack from the repo itself, so a widened or removed `files` field cannot slip through.
    const [listing] = JSON.parse(
      run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root })
    ) as Array<{
      files: Array<{ path: string }>
    }>
    const files = listing!.files.map((f) => f.path)
    expect(files).toContain("package.json")
    expect(files).toContain("grafana/breakwater.json")
    expect(files.filter((f) => /^(test|demo|bench|examples|docs|reports)\/|\.test\.|__doc_examples__/.test(f))).toEqual(
      []
    )
  })

  it("lists every public module as its own subpath, explicitly, and nothing else", () => {
    const { exports } = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
      exports: Record<string, unknown>
    }
    // Public: src/<layer>/*.ts, outside internal/ folders and the pure cores of src/core/. Each one's
    // subpath is its bare name (`breakwater/CircuitBreaker` → dist/guards/CircuitBreaker.js).
    const publicModules = fs.readdirSync(path.join(root, "src"), { recursive: true, encoding: "utf8" })
      // src/core holds the pure cores; src/port the per-Effect-version ports (reached through "#port").
      .filter((file) =>
        file.endsWith(".ts") && !file.split(path.sep).includes("internal") &&
        !["core", "port"].includes(file.split(path.sep)[0]!)
      )
      .map((file) => file.replace(/\.ts$/, "").split(path.sep).join("/"))
      .filter((module) => module !== "index" && !throughStore.has(module))
    const expected = [".", "./package.json", ...publicModules.map((module) => `./${path.posix.basename(module)}`)]
    expect(Object.keys(exports).sort()).toEqual(expected.sort())
    const targets = Object.fromEntries(
      publicModules.map((module) => [`./${path.posix.basename(module)}`, `./dist/${module}.js`])
    )
    expect(
      Object.entries(exports).filter(([key, target]) =>
        key !== "." && key !== "./package.json" && (target as { import: string }).import !== targets[key]
      )
    ).toEqual([])
    expect(Object.keys(exports).filter((key) => key.includes("*"))).toEqual([])
  })
})

const snippets = readmeSnippets()
const examples = fs.readdirSync(path.join(root, "examples")).filter((file) => file.endsWith(".ts"))
const exampleSource = (file: string) => fs.readFileSync(path.join(root, "examples", file), "utf8")

/** Installs the tarball into `app` with `end`'s versions and writes the app's sources and scripts. */
const prepareApp = async (app: string, end: End): Promise<void> => {
  await install(app, tarballOf(end.major).tarball, end)
  const src = path.join(app, "src")
  fs.mkdirSync(src, { recursive: true })
  const ownSnippets = snippets.filter((s) => isForEffect(s.source, end.major))
  const ownExamples = examples.filter((file) => isForEffect(exampleSource(file), end.major))
  for (const snippet of ownSnippets) fs.writeFileSync(path.join(src, `${snippet.name}.ts`), snippet.source)
  for (const file of ownExamples) fs.writeFileSync(path.join(src, `example_${file}`), exampleSource(file))
  fs.writeFileSync(path.join(src, "clock.test.ts"), clockTest[end.major])
  fs.writeFileSync(path.join(src, "subpaths.ts"), subpathImports())
  const runnable = [
    ...ownSnippets.filter((s) => s.runnable).map((s) => s.name),
    ...ownExamples.filter((file) => !file.startsWith("redis")).map((file) => `example_${file.replace(/\.ts$/, "")}`)
  ]
  fs.writeFileSync(path.join(src, "run.ts"), runner(runnable))
  fs.writeFileSync(path.join(app, "record.mjs"), loadRecorder)
  fs.writeFileSync(path.join(app, "resolve.mjs"), resolver)
}

describe.each(ends)("a consumer app on the $name end of the effect range (Effect $major)", (end) => {
  const app = appOf(end.name)

  beforeAll(() => prepared.get(end.name)!.installed, 400_000)

  it("has exactly one copy of effect, at this end's version", () => {
    expect(effectCopies(app)).toEqual([end.versions["effect"]])
  })

  let problems: Array<string> = []
  let result: { ran: number; failed: Record<string, string> } = { ran: 0, failed: {} }
  const inline = (entry: string) => /inline_\d+/.test(entry)

  it("type-checks every fenced README example and example program against the installed package", async () => {
    // strict, NodeNext; breakwater's declarations are checked in full (see typeCheck)
    problems = await prepared.get(end.name)!.problems
    expect(problems.filter((p) => !inline(p))).toEqual([])
    expect(fs.existsSync(path.join(app, "dist", "run.js"))).toBe(true)
  }, 300_000)

  it("runs them", () => {
    const out = run(end.node, ["dist/run.js"], { cwd: app, timeout: 90_000 })
    result = JSON.parse(out.slice(out.lastIndexOf("RESULT ") + 7)) as typeof result
    expect(result.ran).toBeGreaterThan(10)
    expect(Object.entries(result.failed).filter(([name]) => !inline(name))).toEqual([])
  }, 180_000)

  it("type-checks and runs the README's inline snippets (Bulkhead.make({ ... }) and the like)", () => {
    expect(snippets.filter((s) => inline(s.name) && isForEffect(s.source, end.major)).length).toBeGreaterThanOrEqual(3)
    expect(problems.filter(inline)).toEqual([])
    expect(Object.entries(result.failed).filter(([name]) => inline(name))).toEqual([])
  })

  it("runs an @effect/vitest test under TestClock", async () => {
    expect(await prepared.get(end.name)!.clockTest).toMatch(/1 passed/)
  }, 150_000)

  it("refuses every internal path at any depth and resolves every exported subpath", () => {
    const pkg = path.join(app, "node_modules", "breakwater")
    const { exports } = JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8")) as {
      exports: Record<string, unknown>
    }
    const exported = Object.keys(exports).map((key) => key === "." ? "breakwater" : `breakwater/${key.slice(2)}`)
    const internal = fs.readdirSync(path.join(pkg, "dist"), { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".js") && file.split(path.sep).includes("internal"))
      .flatMap((file) => {
        const module = file.replace(/\.js$/, "").split(path.sep).join("/")
        return [`breakwater/${module}`, `breakwater/dist/${module}.js`, `breakwater/src/${module}.ts`]
      })
    expect(internal.some((s) => s.includes("/http/internal/"))).toBe(true)
    expect(internal.some((s) => s.includes("/redis/internal/"))).toBe(true)
    const codes = JSON.parse(
      run(end.node, ["resolve.mjs", JSON.stringify([...exported, ...internal])], { cwd: app })
    ) as Record<string, string>
    expect(Object.entries(codes).filter(([s, code]) => exported.includes(s) && code !== "ok")).toEqual([])
    expect(
      Object.entries(codes).filter(([s, code]) => internal.includes(s) && code !== "ERR_PACKAGE_PATH_NOT_EXPORTED")
    )
      .toEqual([])
  }, 60_000)

  it("loads no ioredis, OpenTelemetry or undici module on a cold import of the root", () => {
    const loaded = (specifier: string) =>
      JSON.parse(run(end.node, ["record.mjs", specifier], { cwd: app })) as Array<string>
    const root = loaded("breakwater")
    expect(root.some((url) => url.includes("/node_modules/effect/"))).toBe(true)
    expect(root.filter((url) => heavy.test(url))).toEqual([])
    // The recorder sees those modules when they are loaded: the Redis subpath loads ioredis.
    expect(loaded("breakwater/RedisStore").some((url) => /node_modules[\\/]ioredis[\\/]/.test(url))).toBe(true)
  }, 60_000)
})
