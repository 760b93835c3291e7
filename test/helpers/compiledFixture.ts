/**
 * A child-process fixture of test/redis/fixtures, bundled once per test file with esbuild (tsx's
 * start-up takes seconds on a loaded machine) and removed after it. Registers its own beforeAll/afterAll.
 * Built for the Effect the suite runs against: `#port` is that target's port, and the bundle sits in that
 * target's node_modules, so its bare `effect` import is the same Effect as the suite's.
 */
import { targetMajor } from "#test-port"
import { build, type Plugin } from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"

export const root = path.resolve(import.meta.dirname, "..", "..")

/** The node_modules whose `effect` the suites run against (targets/effect4's for Effect 4). */
const modules = targetMajor === 4
  ? path.join(root, "targets", "effect4", "node_modules")
  : path.join(root, "node_modules")

/** `#port` and `#port/<name>` as this target's port sources (not the root package's built Effect 3 one). */
const port: Plugin = {
  name: "breakwater-port",
  setup(builder) {
    const dir = path.join(root, "src", "port", `effect${targetMajor}`)
    builder.onResolve({ filter: /^#port(\/.+)?$/ }, (args) => ({
      path: args.path === "#port"
        ? path.join(dir, "index.ts")
        : path.join(dir, `${args.path.slice("#port/".length)}.ts`)
    }))
  }
}

/** The bundle's path; it is built before the file's tests when `enabled()` holds. */
export const compiledFixture = (name: string, enabled: () => boolean): string => {
  // Inside node_modules so the bundle's bare imports (effect, ioredis) resolve.
  const compiled = path.join(modules, ".cache", "breakwater-test", `${name}-${process.pid}.mjs`)
  beforeAll(async () => {
    if (!enabled()) return
    await build({
      entryPoints: [path.join(root, "test", "redis", "fixtures", `${name}.ts`)],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      outfile: compiled,
      plugins: [port],
      logLevel: "warning"
    })
  })
  afterAll(() => fs.rmSync(compiled, { force: true }))
  return compiled
}
