/**
 * `npm test` runs every behavioural suite on both Effect targets: each test file is in the Effect 4 run
 * (`portedSuites` in targets/effect4/vitest.config.ts, type-checked through targets/effect4/tsconfig.json)
 * unless it is one of the repository checks below, which do not depend on the target.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"
import { describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "..")

/** Checks of the repository itself, run once (from the Effect 3 run). */
const repositoryChecks = [
  "test/architecture.test.ts", // the source layout
  "test/bench.test.ts", // the bench, which builds and loads both targets itself
  "test/dependencies.test.ts", // package.json and what each entry loads
  "test/docs.test.ts", // every example, compiled against each Effect
  "test/package.test.ts", // both packages, packed and installed into fresh apps
  "test/targets.test.ts", // this file
  // Child processes on Effect 4 (`--effect 4`), started from the Effect 3 run.
  "test/demo/effect4.test.ts",
  "test/demo/effect4.live.test.ts"
]

const testFiles = (fs.readdirSync(path.join(root, "test"), { recursive: true, encoding: "utf8" }) as Array<string>)
  .filter((file) => file.endsWith(".test.ts"))
  .map((file) => `test/${file.split(path.sep).join("/")}`)
  .sort()

const portedSuites = (): Array<string> => {
  const config = fs.readFileSync(path.join(root, "targets/effect4/vitest.config.ts"), "utf8")
  const list = /export const portedSuites = \[([\s\S]*?)\]/.exec(config)![1]!
  return [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]!)
}

describe("both Effect targets", () => {
  it("every test file runs on Effect 4 too, or is a repository check", () => {
    const ported = new Set(portedSuites())
    expect(testFiles.filter((file) => !ported.has(file) && !repositoryChecks.includes(file))).toEqual([])
    expect(repositoryChecks.filter((file) => ported.has(file))).toEqual([])
    expect([...ported].filter((file) => !testFiles.includes(file))).toEqual([])
  })

  it("the Effect 4 type-check covers every suite of the Effect 4 run", () => {
    const file = path.join(root, "targets/effect4/tsconfig.json")
    const { config } = ts.parseConfigFileTextToJson(file, fs.readFileSync(file, "utf8"))
    const included = new Set(
      (config.include as Array<string>).map((p) => path.relative(root, path.resolve(path.dirname(file), p)))
    )
    expect(portedSuites().filter((suite) => !included.has(suite))).toEqual([])
  })
})
