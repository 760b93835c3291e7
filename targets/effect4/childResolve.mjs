/**
 * Module resolution hooks for child processes of the Effect 4 test run (see childProcess.mjs): what
 * targets/effect4/vitest.config.ts does for the test itself. `effect`, the Effect integrations and the
 * test tooling resolve from this folder whoever imports them; `#port` and `#port/<name>` to the Effect 4
 * port's sources (tsx compiles them).
 */
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const port = path.resolve(here, "../../src/port/effect4")
const fromThisTarget = /^(effect|@effect\/(vitest|platform-node|platform|opentelemetry)|vitest|fast-check)(\/.*)?$/
// An importer inside this folder's node_modules: Node resolves from there, and tsx maps no tsconfig
// `paths` for it (targets/effect4/tsconfig.json, which tsx reads when the child starts in this folder,
// maps `effect` to its declaration files for the type-checker).
const targetParent = pathToFileURL(path.join(here, "node_modules", "effect", "package.json")).href

export async function resolve(specifier, context, next) {
  if (specifier === "#port") return next(pathToFileURL(path.join(port, "index.ts")).href, context)
  const sub = /^#port\/(.+)$/.exec(specifier)
  if (sub !== null) return next(pathToFileURL(path.join(port, `${sub[1]}.ts`)).href, context)
  if (fromThisTarget.test(specifier)) return next(specifier, { ...context, parentURL: targetParent })
  return next(specifier, context)
}
