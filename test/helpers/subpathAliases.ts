/**
 * The package's subpaths on their sources, read from package.json "exports" (one list to keep), for the
 * vitest configs of both targets: `breakwater/CircuitBreaker` → ./dist/guards/CircuitBreaker.js →
 * src/guards/CircuitBreaker.ts.
 */
import * as fs from "node:fs"
import * as path from "node:path"

export const subpathAliases = (repo: string): Array<{ readonly find: RegExp; readonly replacement: string }> => {
  const { exports } = JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8")) as {
    readonly exports: Record<string, string | { readonly import: string }>
  }
  return Object.entries(exports).flatMap(([subpath, target]) =>
    typeof target === "string" ? [] : [{
      find: new RegExp(`^breakwater${subpath === "." ? "" : `/${subpath.slice(2)}`}$`),
      replacement: path.join(repo, target.import.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts"))
    }]
  )
}
