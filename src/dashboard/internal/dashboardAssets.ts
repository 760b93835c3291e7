/**
 * The page's assets (its script and styles, and uPlot's from `node_modules`), read once from their
 * files and kept: served by the dashboard's routes and inlined into a report.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"

/** The page's own files sit in `src/dashboard/`, beside this module's folder or (built) beside `dist/`. */
const ownFile = (name: string): string => {
  const beside = fileURLToPath(new URL(`../${name}`, import.meta.url))
  return fs.existsSync(beside) ? beside : fileURLToPath(new URL(`../../../src/dashboard/${name}`, import.meta.url))
}

const fromNodeModules = (specifier: string) => () => [createRequire(import.meta.url).resolve(specifier)]

/**
 * Each asset's files, joined in order into its body. The page script is three plain scripts (cards,
 * charts, then the page that uses them, see `dashboard.js`) served as one, so that the page, a report
 * and a browser's cache see a single `dashboard.js`.
 */
const assetFiles: Record<string, { readonly contentType: string; readonly paths: () => ReadonlyArray<string> }> = {
  "dashboard.js": {
    contentType: "text/javascript; charset=utf-8",
    paths: () => ["dashboardCards.js", "dashboardCharts.js", "dashboard.js"].map(ownFile)
  },
  "dashboard.css": { contentType: "text/css; charset=utf-8", paths: () => [ownFile("dashboard.css")] },
  "uPlot.js": { contentType: "text/javascript; charset=utf-8", paths: fromNodeModules("uplot/dist/uPlot.iife.min.js") },
  "uPlot.css": { contentType: "text/css; charset=utf-8", paths: fromNodeModules("uplot/dist/uPlot.min.css") }
}

export const assetNames = Object.keys(assetFiles)

const assetCache = new Map<string, { readonly body: string; readonly contentType: string }>()

/** An asset's text, read once: a missing file (a broken install) is a defect. */
export const asset = (name: string) =>
  Effect.sync(() => {
    let file = assetCache.get(name)
    if (file === undefined) {
      const spec = assetFiles[name]!
      const body = spec.paths().map((path) => fs.readFileSync(path, "utf8")).join("\n")
      assetCache.set(name, file = { body, contentType: spec.contentType })
    }
    return file
  })
