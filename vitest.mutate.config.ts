/**
 * The tests Stryker runs against each mutant (`npm run mutate`): the fast suites that exercise the
 * pure decision cores in src/internal/. The long model-based and soak suites stay in `npm test`.
 */
import * as path from "node:path"
import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: {
    alias: { breakwater: path.resolve(import.meta.dirname, "src/index.ts") }
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
