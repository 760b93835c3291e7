/**
 * Preloaded by the child processes that shared tests start (`node --import <this file> --import tsx`,
 * `tsxNodeArgs` in test/port/effect4.ts), so that a child runs against Effect 4 as the test that started
 * it does: it registers childResolve.mjs, the same resolution as this folder's vitest.config.ts.
 */
import { register } from "node:module"
import { fileURLToPath } from "node:url"

// Loaded before tsx (see tsxNodeArgs): tsx then reads a tsconfig without `paths`. On Node 22 tsx's own
// resolution runs ahead of these hooks, and this folder's tsconfig.json maps `effect` to declaration files.
process.env["TSX_TSCONFIG_PATH"] ??= fileURLToPath(new URL("./tsconfig.child.json", import.meta.url))
register("./childResolve.mjs", import.meta.url)
