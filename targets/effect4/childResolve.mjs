/**
 * Module resolution hooks for child processes of the Effect 4 test run (see childProcess.mjs): what
 * targets/effect4/vitest.config.ts does for the test itself. `effect`, the Effect integrations and the
 * test tooling resolve from this folder whoever imports them; `#port` and `#port/<name>` to the Effect 4
 * port's sources, `breakwater` and its subpaths to the shared sources (tsx compiles them).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const port = path.resolve(here, "../../src/port/effect4")
const repo = path.resolve(here, "../..")
// `breakwater` and `breakwater/<name>` (the demo imports them as an app would): the package's exports,
// each `./dist/<folder>/<name>.js` read as its source `src/<folder>/<name>.ts` (tsx compiles it).
const exportsOf = JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8")).exports
const sourceOf = (specifier) => {
  const entry = exportsOf[specifier === "breakwater" ? "." : `./${specifier.slice("breakwater/".length)}`]
  const built = typeof entry === "object" && entry !== null ? entry.import : undefined
  return typeof built === "string" && built.startsWith("./dist/")
    ? pathToFileURL(path.join(repo, "src", built.slice("./dist/".length).replace(/\.js$/, ".ts"))).href
    : undefined
}
const fromThisTarget = /^(effect|@effect\/(vitest|platform-node|platform|opentelemetry)|vitest|fast-check)(\/.*)?$/
// An importer inside this folder's node_modules: Node resolves from there, and tsx maps no tsconfig
// `paths` for it (targets/effect4/tsconfig.json, which tsx reads when the child starts in this folder,
// maps `effect` to its declaration files for the type-checker).
const targetParent = pathToFileURL(path.join(here, "node_modules", "effect", "package.json")).href

export async function resolve(specifier, context, next) {
  if (specifier === "#port") return next(pathToFileURL(path.join(port, "index.ts")).href, context)
  const sub = /^#port\/(.+)$/.exec(specifier)
  if (sub !== null) return next(pathToFileURL(path.join(port, `${sub[1]}.ts`)).href, context)
  if (specifier === "breakwater" || specifier.startsWith("breakwater/")) {
    const source = sourceOf(specifier)
    if (source !== undefined) return next(source, context)
  }
  if (fromThisTarget.test(specifier)) return next(specifier, { ...context, parentURL: targetParent })
  return next(specifier, context)
}
