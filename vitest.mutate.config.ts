/**
 * The tests Stryker runs against each mutant (`npm run mutate`): the fast suites that exercise the
 * pure decision cores in src/core/. The long model-based and soak suites stay in `npm test`.
 */
import { defineConfig } from "vitest/config"
import base from "./vitest.config.js"

export default defineConfig({
  // The same subpath aliases as the main suite.
  resolve: base.resolve!,
  test: {
    include: [
      "test/CircuitBreaker.test.ts",
      "test/Bulkhead.test.ts",
      "test/RetryBudget.test.ts",
      "test/slidingWindow.property.test.ts",
      "test/circuitMachine.test.ts",
      "test/AdaptiveLimiter.test.ts",
      "test/AdaptiveThrottler.test.ts",
      "test/keyTable.test.ts",
      "test/keyTable.property.test.ts"
    ],
    pool: "threads",
    testTimeout: 30_000
  }
})
