/**
 * A child-process fixture of test/redis/fixtures, bundled once per test file with esbuild (tsx's
 * start-up takes seconds on a loaded machine) and removed after it. Registers its own beforeAll/afterAll.
 */
import { build } from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"

export const root = path.resolve(import.meta.dirname, "..", "..")

/** The bundle's path; it is built before the file's tests when `enabled()` holds. */
export const compiledFixture = (name: string, enabled: () => boolean): string => {
  // Inside node_modules so the bundle's bare imports (effect, ioredis) resolve.
  const compiled = path.join(root, "node_modules", ".cache", "breakwater-test", `${name}-${process.pid}.mjs`)
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
      logLevel: "warning"
    })
  })
  afterAll(() => fs.rmSync(compiled, { force: true }))
  return compiled
}
