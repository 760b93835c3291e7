import * as path from "node:path"
import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: {
    alias: { breakwater: path.resolve(import.meta.dirname, "src/index.ts") }
  },
  test: {
    include: ["test/**/*.test.ts"],
    pool: "threads",
    testTimeout: 30_000
  }
})
