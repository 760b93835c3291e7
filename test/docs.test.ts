/**
 * Every ```ts example in the public modules' JSDoc must compile against the public API of each Effect it is
 * for (a first line `// Effect 3` or `// Effect 4` says which; otherwise both): the examples
 * are extracted and type-checked in one TypeScript program, as a user would write them.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"
import { describe, expect, it } from "vitest"
import { isForEffect } from "./helpers/effectMarker.js"

const root = path.resolve(import.meta.dirname, "..")
// Public modules: src/index.ts and src/<layer>/*.ts, never an internal/ folder nor the pure cores of src/core/.
const publicModules = fs.readdirSync(path.join(root, "src"), { recursive: true, encoding: "utf8" })
  // Not public: internal/ folders, the pure cores (src/core) and the per-Effect-version ports (src/port).
  .filter((file) =>
    file.endsWith(".ts") && !file.split(path.sep).includes("internal") &&
    !["core", "port"].includes(file.split(path.sep)[0]!)
  )
  .map((file) => path.join(root, "src", file))
/**
 * The internal modules whose declarations a public module re-exports (`export { Event } from
 * "./internal/rateLimiterApi.js"`), with the names it re-exports: those are public too, held to the same
 * standard (the module's other exports are internal).
 */
const reexported = new Map<string, Set<string>>()
for (const file of publicModules) {
  const text = fs.readFileSync(file, "utf8")
  for (const m of text.matchAll(/^export (?:type )?\{([^}]*)\} from "(\.[^"]+)"/gm)) {
    const target = path.resolve(path.dirname(file), m[2]!.replace(/\.js$/, ".ts"))
    if (publicModules.includes(target)) continue
    const names = reexported.get(target) ?? new Set<string>()
    for (const name of m[1]!.split(",")) names.add(name.trim().replace(/^type\s+/, "").split(/\s+as\s+/)[0]!)
    reexported.set(target, names)
  }
}
const reexportedModules = [...reexported.keys()]
const documentedModules = [...publicModules, ...reexportedModules]

interface Example {
  readonly file: string
  readonly source: string
  readonly origin: string
}

const extract = (file: string): Array<Example> => {
  const text = fs.readFileSync(file, "utf8")
  const examples: Array<Example> = []
  for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const body = comment[0].split("\n").map((line) => line.replace(/^\s*\*( ?)/, "")).join("\n")
    for (const block of body.matchAll(/```ts\n([\s\S]*?)```/g)) {
      const line = text.slice(0, comment.index).split("\n").length
      const name = `${
        path.relative(path.join(root, "src"), file).replaceAll(path.sep, "_").replace(/\.ts$/, "")
      }_${examples.length}.ts`
      examples.push({
        file: path.join(root, "test", "__doc_examples__", name),
        source: block[1]!,
        origin: `${path.relative(root, file)}:${line}`
      })
    }
  }
  return examples
}

/**
 * The README's ```ts blocks are held to the same standard, each against the Effects it is for (the
 * consumer test, test/package.test.ts, also runs them against the packed packages).
 */
const readmeExamples = (major: 3 | 4): Array<Example> => {
  const text = fs.readFileSync(path.join(root, "README.md"), "utf8")
  const blocks = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].filter((block) => isForEffect(block[1]!, major))
  return blocks.map((block, i) => ({
    file: path.join(root, "test", "__doc_examples__", `README_${i}.ts`),
    source: block[1]!,
    origin: `README.md:${text.slice(0, block.index).split("\n").length}`
  }))
}

/**
 * The README's inline code that calls a module (`Bulkhead.make({ name: "db", maxConcurrentCalls: 25 })`)
 * is checked too: each span becomes `export const example = <span>` after imports of every module and
 * declarations of the placeholder names the prose uses (`options`, `registry`, `breaker`, ...), so its
 * literal arguments are type-checked. Spans written in signature notation (`...` for "more of these",
 * `a | b` for alternatives) are not TypeScript and are left out; `inlineSkipped` lists them.
 */
const inlineCall = /^([A-Z]\w*)\.\w+(\.\w+)*\(.*\)$/
const rootModules = [
  "AdaptiveLimiter",
  "AdaptiveThrottler",
  "Bulkhead",
  "Chaos",
  "CircuitBreaker",
  "Events",
  "Health",
  "Hedge",
  "Metrics",
  "Policy",
  "RateLimiter",
  "Registry",
  "Retry",
  "RetryBudget",
  "Snapshot",
  "Store",
  "TimeLimiter"
]
const effectModules = ["Duration", "Effect", "Schedule", "Stream"]
/** Integrations live on subpaths of their own (the root entry loads only the guards). */
const subpathModules = [
  "Dashboard",
  "NodeResilientHttpClient",
  "Prometheus",
  "RateLimitMiddleware",
  "RedisStore",
  "ResilientHttpClient"
]
const placeholders = `
declare const options: any
declare const spec: any
declare const registry: Registry.Registry
declare const guards: ReadonlyArray<Registry.Guard>
declare const breaker: CircuitBreaker.CircuitBreaker
declare const bulkhead: Bulkhead.Bulkhead
declare const limiter: RateLimiter.RateLimiter
declare const limiters: ReadonlyArray<RateLimiter.RateLimiter>
declare const retry: Retry.Retry
declare const permits: number
declare const size: number
declare const wait: Duration.Duration
declare const error: unknown
`

const inlineSpans = (): Array<{ readonly span: string; readonly line: number }> => {
  const text = fs.readFileSync(path.join(root, "README.md"), "utf8")
  // Fenced blocks are checked whole; blank them out (keeping line numbers) before reading spans.
  const prose = text.replace(/```[\s\S]*?```/g, (block) => block.replace(/[^\n]/g, " "))
  return [...prose.matchAll(/`([^`\n]+)`/g)]
    .filter((m) => inlineCall.test(m[1]!))
    .map((m) => ({ span: m[1]!, line: prose.slice(0, m.index).split("\n").length }))
}

const isSignatureNotation = (span: string) => span.includes("...") || span.includes(" | ")

export const inlineSkipped = (): Array<string> =>
  inlineSpans().filter((s) => isSignatureNotation(s.span)).map((s) => s.span)

const readmeInlineExamples = (major: 3 | 4): Array<Example> =>
  inlineSpans().filter((s) => !isSignatureNotation(s.span)).map(({ line, span }, i) => ({
    file: path.join(root, "test", "__doc_examples__", `README_inline_${i}.ts`),
    source: `import { ${effectModules.join(", ")} } from "effect"\n` +
      // TestClock moved to effect/testing in Effect 4.
      `import { TestClock } from "${major === 3 ? "effect" : "effect/testing"}"\n` +
      `import { ${rootModules.join(", ")} } from "breakwater"\n` +
      subpathModules.map((m) => `import * as ${m} from "breakwater/${m}"\n`).join("") +
      `${placeholders}\n` +
      `export const example = ${span}\n`,
    origin: `README.md:${line} \`${span}\``
  }))

/** Type-checks the examples in one program under the given tsconfig (its paths choose the Effect version). */
const compileProblems = (tsconfig: string, examples: ReadonlyArray<Example>): Array<string> => {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(root, tsconfig), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: () => {}
  })!
  const options: ts.CompilerOptions = {
    ...config.options,
    noUnusedLocals: false,
    noUnusedParameters: false,
    noEmit: true
  }
  const byFile = new Map(examples.map((example) => [example.file, example]))
  const host = ts.createCompilerHost(options)
  const readFile = host.readFile.bind(host)
  const fileExists = host.fileExists.bind(host)
  const getSourceFile = host.getSourceFile.bind(host)
  host.readFile = (file) => byFile.get(file)?.source ?? readFile(file)
  host.fileExists = (file) => byFile.has(file) || fileExists(file)
  host.getSourceFile = (file, language, onError, create) => {
    const example = byFile.get(file)
    return example === undefined
      ? getSourceFile(file, language, onError, create)
      : ts.createSourceFile(file, example.source, language, true)
  }
  const program = ts.createProgram([...byFile.keys()], options, host)
  return ts.getPreEmitDiagnostics(program)
    .filter((d) => d.file !== undefined && byFile.has(d.file.fileName))
    .map((d) => {
      const example = byFile.get(d.file!.fileName)!
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0)
      return `${example.origin} (example line ${line + 1}): ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`
    })
}

describe("JSDoc and README examples", () => {
  const jsdoc = documentedModules.flatMap(extract)
  const examplesFor = (major: 3 | 4) => [
    ...jsdoc.filter((example) => isForEffect(example.source, major)),
    ...readmeExamples(major),
    ...readmeInlineExamples(major)
  ]

  it("the README's inline calls are checked, all but signature notation", () => {
    const spans = inlineSpans().map((s) => s.span)
    expect(spans).toContain("Bulkhead.make({ name: \"db\", maxConcurrentCalls: 25, maxWaitDuration: 0 })")
    expect(readmeInlineExamples(3).length).toBe(spans.length - inlineSkipped().length)
    for (const span of inlineSkipped()) expect(isSignatureNotation(span)).toBe(true)
    expect(inlineSkipped().length).toBeLessThanOrEqual(3)
  })

  it("follows re-exports into internal modules", () => {
    expect(reexportedModules.map((file) => path.relative(root, file))).toContain(
      path.join("src", "guards", "internal", "rateLimiterApi.ts")
    )
  })

  it("every public export has a JSDoc with @since and an example", () => {
    const missing: Array<string> = []
    for (const file of documentedModules.filter((f) => path.basename(f) !== "index.ts")) {
      const text = fs.readFileSync(file, "utf8")
      const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
      for (const statement of source.statements) {
        const exported = ts.canHaveModifiers(statement) &&
          ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
        if (!exported) continue
        const names = ts.isVariableStatement(statement)
          ? statement.declarationList.declarations.map((d) => d.name.getText(source))
          : [(statement as ts.DeclarationStatement).name?.getText(source) ?? "(anonymous)"]
        const only = reexported.get(file)
        if (only !== undefined && !names.some((name) => only.has(name))) continue
        const docs = (ts.getLeadingCommentRanges(text, statement.pos) ?? [])
          .map((range) => text.slice(range.pos, range.end))
          .join("\n")
        if (!docs.includes("```ts") || !docs.includes("@since")) {
          missing.push(`${path.relative(root, file)}: ${names.join(", ")}`)
        }
      }
    }
    expect(missing).toEqual([])
  })

  it("every example compiles against Effect 3", () => {
    const examples = examplesFor(3)
    expect(compileProblems("tsconfig.json", examples)).toEqual([])
    expect(examples.length).toBeGreaterThan(10)
  }, 120_000)

  // The same examples against Effect 4's types (targets/effect4/tsconfig.json maps effect and breakwater
  // there): one documentation for both packages. An example marked `// Effect 3` uses an API Effect 4
  // redesigned and has a `// Effect 4` twin.
  it("every example compiles against Effect 4", () => {
    const examples = examplesFor(4)
    expect(compileProblems(path.join("targets", "effect4", "tsconfig.json"), examples)).toEqual([])
    expect(examples.length).toBeGreaterThan(10)
  }, 120_000)
})
