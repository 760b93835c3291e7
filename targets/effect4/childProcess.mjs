/**
 * Preloaded by the child processes that shared tests start (`node --import tsx --import <this file>`,
 * `tsxNodeArgs` in test/port/effect4.ts), so that a child runs against Effect 4 as the test that started
 * it does: it registers childResolve.mjs, the same resolution as this folder's vitest.config.ts.
 */
import { register } from "node:module"

register("./childResolve.mjs", import.meta.url)
