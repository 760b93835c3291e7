/**
 * Compiles the benchmark (bench/index.ts with breakwater's sources) into one ES module without
 * esbuild's `keepNames`. tsx turns `keepNames` on, which wraps every function expression in a `__name`
 * call (an `Object.defineProperty` each time a closure is created): that taxes every per-call closure in
 * src/ and bench/ (about 2x on the floor wrapper) while the peers, already compiled in node_modules, do
 * not pay it. Compiled like a published package, both sides are measured alike.
 */
import { build } from "esbuild"
import * as path from "node:path"

export const outfile = "node_modules/.cache/breakwater-bench/index.mjs"

/** One ES module per entry, dependencies left to node_modules, no `keepNames`. */
const common = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  keepNames: false,
  sourcemap: true,
  logLevel: "warning"
}

await build({ ...common, entryPoints: ["bench/index.ts"], outfile })

/**
 * Our guards once per Effect target (bench/targets/guardCases.ts, issue 17): the same source, with
 * `#port` bundled from that target's port and, for Effect 4, `effect` imported as the `effect4` npm alias,
 * so both run in the one process and are measured in the same rounds.
 */
export const targetOutfile = (major) => `node_modules/.cache/breakwater-bench/targets-effect${major}.mjs`

for (const major of [3, 4]) {
  await build({
    ...common,
    entryPoints: ["bench/targets/guardCases.ts"],
    outfile: targetOutfile(major),
    alias: major === 4 ? { effect: "effect4" } : {},
    plugins: [{
      name: "breakwater:port",
      setup(build) {
        build.onResolve({ filter: /^#port$/ }, () => ({
          path: path.resolve(import.meta.dirname, `../src/port/effect${major}/index.ts`)
        }))
      }
    }]
  })
}
