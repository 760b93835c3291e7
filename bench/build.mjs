/**
 * Compiles the benchmark (bench/index.ts with breakwater's sources) into one ES module without
 * esbuild's `keepNames`. tsx turns `keepNames` on, which wraps every function expression in a `__name`
 * call (an `Object.defineProperty` each time a closure is created): that taxes every per-call closure in
 * src/ and bench/ (about 2x on the floor wrapper) while the peers, already compiled in node_modules, do
 * not pay it. Compiled like a published package, both sides are measured alike.
 */
import { build } from "esbuild"

export const outfile = "node_modules/.cache/breakwater-bench/index.mjs"

await build({
  entryPoints: ["bench/index.ts"],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  keepNames: false,
  sourcemap: true,
  outfile,
  logLevel: "warning"
})
