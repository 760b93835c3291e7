/**
 * The page renders under its own Content-Security-Policy in a real browser: the dashboard served on a
 * real loopback socket (real clock, until the page has drawn its cards and charts, a few seconds) and
 * opened in headless Chromium, which reports any violation. Runs under CI=true always; elsewhere it is
 * skipped, with a notice, without Chromium.
 */
import { serveRoutes } from "#test-port/http"
import { Effect, Exit, Layer, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { chromium } from "playwright-core"
import { describe, expect, it } from "vitest"
import * as Dashboard from "../../src/dashboard/Dashboard.js"
import * as CircuitBreaker from "../../src/guards/CircuitBreaker.js"
import * as Registry from "../../src/registry/Registry.js"

const executablePath = "/usr/bin/chromium"
const available = fs.existsSync(executablePath)
const mustRun = process.env["CI"] === "true"
if (!available && !mustRun) console.warn(`dashboard CSP e2e skipped: ${executablePath} is missing`)

describe("dashboard under its Content-Security-Policy", () => {
  it.skipIf(!available && !mustRun)(
    "renders cards, bars and charts with no violation, and refuses to be framed",
    async () => {
      const scope = Effect.runSync(Scope.make())
      const url = await Effect.runPromise(
        Effect.gen(function*() {
          const registry = yield* Registry.make()
          const breaker = yield* registry.circuitBreaker("payments", { minimumNumberOfCalls: 2, slidingWindowSize: 2 })
          yield* registry.bulkhead("db", { maxConcurrentCalls: 4 })
          yield* Effect.forEach(
            [1, 2, 3],
            () => Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("boom"), breaker))
          )
          const built = yield* Layer.build(Dashboard.layer({ guards: registry.guards, interval: "200 millis" }))
          const base = yield* serveRoutes(Dashboard.router, undefined, built)
          return `${base}/breakwater`
        }).pipe(Effect.provideService(Scope.Scope, scope))
      )
      const profile = fs.mkdtempSync(path.join(os.tmpdir(), "breakwater-csp-"))
      const launching = chromium.launchPersistentContext(profile, {
        executablePath,
        headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
      })
      try {
        const browser = await launching
        const page = await browser.newPage()
        const violations: Array<string> = []
        page.on("console", (message) => {
          if (/Content.Security.Policy|Refused to/i.test(message.text())) violations.push(message.text())
        })
        await page.addInitScript({
          content: "document.addEventListener('securitypolicyviolation', (e) => " +
            "console.error('Refused by Content Security Policy: ' + e.violatedDirective + ' ' + e.blockedURI))"
        })
        const response = await page.goto(url)
        expect(response?.headers()["content-security-policy"]).toContain("default-src 'none'")
        await page.locator("[data-kind=CircuitBreaker] [data-state=Open]").waitFor({ timeout: 20_000 })
        await page.locator("[data-chart=load] canvas").first().waitFor({ timeout: 10_000 })
        // Bar widths are set through the CSSOM, which the policy allows (a style attribute in markup it refuses).
        expect(await page.locator(".bar .fill").first().getAttribute("style")).toMatch(/width: [\d.]+%/)
        expect(await page.locator("[data-kind=Bulkhead]").count()).toBe(1)
        expect(violations).toEqual([])
        // Framed by another page (one without a policy of its own): refused by frame-ancestors 'none'.
        const other = await browser.newPage()
        await other.goto("about:blank")
        await other.setContent(`<iframe src="${url}"></iframe>`)
        await other.waitForTimeout(1000) // real clock: the frame's navigation is refused, not awaited
        const framed = other.frames().find((frame) => frame.url().startsWith(url))
        expect(framed === undefined || (await framed.locator("#app").count()) === 0).toBe(true)
      } finally {
        await launching.then((browser) => browser.close(), () => undefined)
        await Effect.runPromise(Scope.close(scope, Exit.void))
        fs.rmSync(profile, { recursive: true, force: true })
      }
    },
    60_000
  )
})
