/**
 * End to end, as a person would look at it: the demo's servers on real loopback HTTP (real clock, a
 * bounded protected run of ~8 s) and the dashboard opened in headless Chromium, until a breaker turns
 * open on screen and the refusal breakdown counts circuit-open refusals. Saves a screenshot under
 * .artifacts/. Runs under CI=true always; elsewhere it is skipped, with a notice, without Chromium.
 */
import { Effect, Fiber } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { chromium } from "playwright-core"
import { describe, expect, it } from "vitest"
import * as Live from "../../demo/live.js"
import * as Scenario from "../../demo/scenario.js"

const executablePath = "/usr/bin/chromium"
const available = fs.existsSync(executablePath)
const mustRun = process.env["CI"] === "true"
if (!available && !mustRun) console.warn(`dashboard e2e skipped: ${executablePath} is missing (.ci/run installs it)`)

const root = path.resolve(import.meta.dirname, "../..")

describe("dashboard in a browser", () => {
  it.skipIf(!available && !mustRun)("shows the breaker open and the refusal breakdown", async () => {
    const scenario = Scenario.make({ durationMillis: 8_000, rate: 40 })
    let resolveUrl: (url: string) => void = () => {}
    const dashboardUrl = new Promise<string>((resolve) => (resolveUrl = resolve))
    const demo = Effect.runFork(Effect.scoped(Live.run({
      scenario,
      modes: ["protected"],
      dashboard: { port: 0 },
      onDashboard: (url) => resolveUrl(url)
    })))
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "breakwater-chromium-"))
    const launching = chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      viewport: { width: 1400, height: 1100 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
    try {
      const browser = await launching
      const page = await browser.newPage()
      // The page must render under its own Content-Security-Policy: any violation is a failure.
      const violations: Array<string> = []
      page.on("console", (message) => {
        if (/Content.Security.Policy|Refused to/i.test(message.text())) violations.push(message.text())
      })
      await page.addInitScript({
        content: "document.addEventListener('securitypolicyviolation', (e) => " +
          "console.error('Refused by Content Security Policy: ' + e.violatedDirective + ' ' + e.blockedURI))"
      })
      const response = await page.goto(await dashboardUrl)
      expect(response?.headers()["content-security-policy"]).toContain("script-src 'self'")
      expect(response?.headers()["x-frame-options"]).toBe("DENY")
      const openBreaker = page.locator("[data-kind=CircuitBreaker] [data-state=Open]")
      await openBreaker.waitFor({ timeout: 15_000 })
      const circuitOpen = page.locator("[data-reason=circuitOpen]")
      await expect.poll(async () => Number(await circuitOpen.getAttribute("data-count")), { timeout: 5_000 })
        .toBeGreaterThan(0)
      for (const reason of ["dependencyError", "timeout", "rateLimited", "bulkheadFull"]) {
        expect(await page.locator(`[data-reason=${reason}]`).count()).toBe(1)
      }
      expect(await page.locator("[data-chart=load] canvas").count()).toBeGreaterThan(0)
      // The state-change log lists the newest change first (the breaker opened, then went half-open).
      const log = page.locator(".log[data-order=newest-first]")
      const lines = async () => ((await log.textContent()) ?? "").split("\n").filter((line) => line.includes("→"))
      await expect.poll(async () => (await lines()).length, { timeout: 8_000 }).toBeGreaterThanOrEqual(2)
      const times = (await lines()).map((line) => Number.parseFloat(line))
      expect(times).toEqual([...times].sort((a, b) => b - a))
      expect((await lines())[0]).toMatch(/Open → HalfOpen|HalfOpen → (Open|Closed)|Closed → Open/)
      expect(await page.locator("[data-kind=RetryBudget]").count()).toBe(1)
      // Bars are drawn with widths set through the CSSOM, which the policy allows.
      expect(await page.locator(".bar .fill").first().getAttribute("style")).toMatch(/width: [\d.]+%/)
      expect(violations).toEqual([])
      const artifacts = path.join(root, ".artifacts")
      fs.mkdirSync(artifacts, { recursive: true })
      await page.screenshot({ path: path.join(artifacts, "dashboard.png"), fullPage: true })
      if (process.env["UPDATE_README_SCREENSHOT"] === "1") {
        // The README's picture: a few more seconds of history on the charts, the breaker open again.
        await page.waitForTimeout(3_000)
        await openBreaker.waitFor({ timeout: 10_000 })
        await page.screenshot({ path: path.join(root, "docs", "dashboard.png"), fullPage: true })
      }
    } finally {
      await launching.then((browser) => browser.close(), () => undefined)
      await Effect.runPromise(Fiber.interrupt(demo))
      fs.rmSync(profile, { recursive: true, force: true })
    }
  }, 30_000)
})
