import * as fs from "node:fs"
import * as path from "node:path"
import { defineConfig } from "vitest/config"

const exportsOf = () =>
  (JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, "package.json"), "utf8")) as {
    readonly exports: Record<string, string | { readonly import: string }>
  }).exports

export default defineConfig({
  resolve: {
    alias: [
      // The package's subpaths on their sources, read from package.json "exports" (one list to keep):
      // `breakwater/CircuitBreaker` → ./dist/guards/CircuitBreaker.js → src/guards/CircuitBreaker.ts.
      ...Object.entries(exportsOf()).flatMap(([subpath, target]) =>
        typeof target === "string" ? [] : [{
          find: new RegExp(`^breakwater${subpath === "." ? "" : `/${subpath.slice(2)}`}$`),
          replacement: path.resolve(
            import.meta.dirname,
            target.import.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts")
          )
        }]
      ),
      // The Effect 3 ports (docs/two-targets.md); targets/effect4/vitest.config.ts swaps in Effect 4's.
      { find: /^#port$/, replacement: path.resolve(import.meta.dirname, "src/port/effect3/index.ts") },
      { find: /^#test-port$/, replacement: path.resolve(import.meta.dirname, "test/port/effect3.ts") }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    pool: "threads",
    testTimeout: 30_000,
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts"],
      // Run by the Effect 4 suite (targets/effect4), which the Effect 3 run cannot load.
      exclude: ["src/port/effect4/**"],
      reporter: ["text-summary", "json-summary", "html"],
      reportOnFailure: true,
      // Measured at 97.6% lines and 92.1% branches; a change that drops below these fails `--coverage`.
      thresholds: { lines: 90, branches: 90 }
    }
  }
})
