/**
 * The tests Stryker runs against each mutant (`npm run mutate`): the fast suites that exercise the
 * pure decision cores in src/internal/. The long model-based and soak suites stay in `npm test`.
 */
import * as path from "node:path"
import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: {
    alias: [
      // The package's subpaths (package.json "exports") on their sources: the flat integration subpaths
      // live under src/http and src/redis; every other subpath is src/<Name>.ts.
      { find: /^breakwater$/, replacement: path.resolve(import.meta.dirname, "src/index.ts") },
      {
        find: /^breakwater\/(ResilientHttpClient|NodeResilientHttpClient|RateLimitMiddleware)$/,
        replacement: path.resolve(import.meta.dirname, "src/http/$1.ts")
      },
      { find: /^breakwater\/RedisStore$/, replacement: path.resolve(import.meta.dirname, "src/redis/RedisStore.ts") },
      { find: /^breakwater\/(\w+)$/, replacement: path.resolve(import.meta.dirname, "src/$1.ts") }
    ]
  },
  test: {
    include: [
      "test/CircuitBreaker.test.ts",
      "test/Bulkhead.test.ts",
      "test/RetryBudget.test.ts",
      "test/slidingWindow.property.test.ts",
      "test/circuitMachine.test.ts",
      "test/AdaptiveLimiter.test.ts",
      "test/AdaptiveThrottler.test.ts"
    ],
    pool: "threads",
    testTimeout: 30_000
  }
})
