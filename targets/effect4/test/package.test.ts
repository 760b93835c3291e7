/**
 * The Effect 4 package as a user gets it: `tsc -p tsconfig.build.json` plus package.mjs into a temporary
 * folder, then a plain Node program (no vitest, no aliases) imports it beside this target's real Effect 4.
 * Proves that the emitted JavaScript keeps importing "effect", that "#port" resolves through the
 * generated package.json to the Effect 4 port, and that the public API works there.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const here = path.resolve(import.meta.dirname, "..")
const repo = path.resolve(here, "../..")
const run = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })

describe("the Effect 4 package", () => {
  let work = ""
  let pkg = ""

  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "breakwater-effect4-"))
    pkg = path.join(work, "package")
    const tsc = path.join(repo, "node_modules/typescript/bin/tsc")
    run(process.execPath, [tsc, "-p", path.join(here, "tsconfig.build.json"), "--outDir", path.join(pkg, "dist")], repo)
    run(process.execPath, [path.join(here, "package.mjs"), pkg], repo)
    // A user's node_modules: this target's Effect 4 and the package, both reachable from the app and
    // from the package itself (which resolves "effect" upward from its own folder).
    fs.mkdirSync(path.join(work, "node_modules"))
    fs.symlinkSync(path.join(here, "node_modules/effect"), path.join(work, "node_modules/effect"), "dir")
    fs.symlinkSync(pkg, path.join(work, "node_modules/breakwater"), "dir")
  }, 120_000)

  afterAll(() => {
    if (work !== "") fs.rmSync(work, { recursive: true, force: true })
  })

  it("declares Effect 4 as its peer, one major above the Effect 3 package, and #port on the Effect 4 port", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8"))
    const root = JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8"))
    expect(manifest.name).toBe(root.name)
    expect(Number(manifest.version.split(".")[0])).toBe(Number(root.version.split(".")[0]) + 1)
    expect(manifest.peerDependencies.effect).toBe("^4.1.0")
    expect(manifest.peerDependencies["@effect/platform"]).toBeUndefined()
    expect(manifest.imports["#port"].default).toBe("./dist/port/effect4/index.js")
    const emitted = fs.readFileSync(path.join(pkg, "dist/guards/RetryBudget.js"), "utf8")
    expect(emitted).toMatch(/from "effect\/Effect"/)
    expect(emitted).toMatch(/from "#port"/)
  })

  it("runs in plain Node against real Effect 4: make, deposit, withdraw, metrics, a rejected option, layerConfig", () => {
    const program = `
      import { ConfigProvider, Context, Effect } from "effect"
      import * as RetryBudget from "breakwater/RetryBudget"
      class Budget extends Context.Service()("Budget") {}
      const program = Effect.gen(function*() {
        const budget = yield* RetryBudget.make({ name: "payments", minRetriesPerSecond: 1 })
        yield* budget.deposit
        const granted = yield* budget.tryWithdraw
        const metrics = yield* budget.metrics
        const bad = yield* Effect.flip(RetryBudget.make({ name: "x", percentCanRetry: 5 }))
        const live = RetryBudget.layerConfig(Budget, RetryBudget.config("payments"))
        const fromConfig = yield* Effect.provide(Budget, live).pipe(
          Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown({ payments: { ttl: "20 seconds" } }))
        )
        return { granted, metrics, bad: bad.message, configured: (yield* fromConfig.metrics).availableRetries }
      })
      console.log(JSON.stringify(await Effect.runPromise(program)))
    `
    const app = path.join(work, "app")
    fs.mkdirSync(app, { recursive: true })
    fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ type: "module", private: true }))
    fs.writeFileSync(path.join(app, "main.js"), program)
    const result = JSON.parse(run(process.execPath, ["main.js"], app))
    expect(result).toEqual({
      granted: true,
      // 1 per second over 10 seconds + 20% of one deposit (rounded down), minus the one withdrawal.
      metrics: {
        availableRetries: 9,
        deposits: 1,
        withdrawals: 1,
        totalDeposits: 1,
        totalWithdrawals: 1,
        refusals: 0
      },
      bad: "Invalid RetryBudget 'x' configuration: percentCanRetry = 5: must be a fraction in [0, 1] (0.2 = 20%)",
      // The default 10 retries per second over the configured 20 seconds.
      configured: 200
    })
  })
})
