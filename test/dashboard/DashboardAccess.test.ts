/**
 * Issue 15, item 8: who may read the dashboard, on a real loopback socket (real clock, each request a
 * few milliseconds): the `Host` check against DNS rebinding, the `authorize` hook on every route,
 * security headers on every response (refusals and errors included), and redaction.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Dashboard from "../../src/dashboard/Dashboard.js"
import { contentSecurityPolicy, hostAllowed, hostnameOf } from "../../src/dashboard/internal/dashboardAccess.js"
import * as CircuitBreaker from "../../src/guards/CircuitBreaker.js"
import * as Registry from "../../src/registry/Registry.js"
import { type Answer, request, serveDashboard } from "./http.js"

/** Every route the dashboard mounts, and two that it answers 404. */
const routes = [
  "/breakwater",
  "/breakwater/assets/dashboard.js",
  "/breakwater/snapshot",
  "/breakwater/events",
  "/breakwater/health",
  "/metrics",
  "/breakwater/assets/secrets.txt",
  "/breakwater/nothing/here"
]

const expectSecurityHeaders = (answer: Answer, path: string) => {
  const where = `${path} (${answer.status})`
  expect(answer.headers["content-security-policy"], where).toBe(contentSecurityPolicy)
  expect(answer.headers["content-security-policy"], where).toContain("frame-ancestors 'none'")
  expect(answer.headers["x-frame-options"], where).toBe("DENY")
  expect(answer.headers["x-content-type-options"], where).toBe("nosniff")
  expect(answer.headers["referrer-policy"], where).toBe("no-referrer")
  expect(answer.headers["cache-control"], where).toBe(
    answer.status === 200 && path.includes("/assets/") ? "private, max-age=3600" : "no-store"
  )
}

const withGuards = Effect.gen(function*() {
  const registry = yield* Registry.make()
  const breaker = yield* registry.circuitBreaker("payments.example.com", { failureRateThreshold: 37 })
  return { registry, breaker }
})

describe("Dashboard access", () => {
  it.live("a Host that is not an IP literal, localhost or an allowed name is refused on every route", () =>
    Effect.scoped(Effect.gen(function*() {
      const { registry } = yield* withGuards
      const { port } = yield* serveDashboard(registry, { allowedHosts: [".ops.example.com", "dash.internal"] })
      for (const path of routes) {
        // A DNS-rebinding page: its own name, resolving to this server.
        const rebound = yield* request(port, path, { host: `attacker.example:${port}` })
        expect(rebound.status, path).toBe(403)
        expect(rebound.body).toBe("host not allowed")
        expectSecurityHeaders(rebound, path)
      }
      const served = [
        `127.0.0.1:${port}`,
        `localhost:${port}`,
        "[::1]",
        "app.localhost",
        "ops.example.com",
        `eu.ops.example.com:${port}`,
        "DASH.internal."
      ]
      for (const host of served) {
        expect((yield* request(port, "/breakwater/snapshot", { host })).status, host).toBe(200)
      }
      for (const host of ["example.com", "dash.internal.evil", "[::1", "a b", `x:${port}:1`, "[::1]x", "[zz]"]) {
        expect((yield* request(port, "/breakwater/health", { host })).status, host).toBe(403)
      }
      // "*" answers any name.
      const { port: open } = yield* serveDashboard(registry, { allowedHosts: ["*"] })
      expect((yield* request(open, "/breakwater/health", { host: "anything.example" })).status).toBe(200)
    })))

  it.live("authorize decides every route: 401 with a challenge, 403, or served; failing closed", () =>
    Effect.scoped(Effect.gen(function*() {
      const { registry } = yield* withGuards
      const seen: Array<string> = []
      const { port } = yield* serveDashboard(registry, {
        authorize: (req) => {
          seen.push(req.url)
          const token = req.headers["authorization"]
          if (token === "Bearer boom") return Effect.fail("the token service is down")
          if (token === "Bearer die") return Effect.die("bug")
          return Effect.succeed(
            token === undefined ? "unauthenticated" : token === "Bearer s3cret" ? "allow" : "forbidden"
          )
        }
      })
      for (const path of routes) {
        const anonymous = yield* request(port, path)
        expect(anonymous.status, path).toBe(401)
        expect(anonymous.headers["www-authenticate"]).toBe("Bearer realm=\"breakwater\"")
        expectSecurityHeaders(anonymous, path)
        for (const token of ["Bearer wrong", "Bearer boom", "Bearer die"]) {
          const refused = yield* request(port, path, { authorization: token })
          expect(refused.status, `${path} ${token}`).toBe(403)
          expect(refused.body).toBe("forbidden")
          expectSecurityHeaders(refused, path)
        }
        const allowed = yield* request(port, path, { authorization: "Bearer s3cret" })
        expect(allowed.status, path).toBe(path.includes("secrets") || path.includes("nothing") ? 404 : 200)
        expectSecurityHeaders(allowed, path)
      }
      expect(seen.length).toBe(routes.length * 5)
      // A wrong Host is refused before authorize is asked.
      const before = seen.length
      expect((yield* request(port, "/breakwater", { host: "evil.example", authorization: "Bearer s3cret" })).status)
        .toBe(403)
      expect(seen.length).toBe(before)
    })))

  it.live("security headers on every response, errors included; data is never cached", () =>
    Effect.scoped(Effect.gen(function*() {
      const { registry } = yield* withGuards
      const { port } = yield* serveDashboard(registry, { maxViewers: 0, challenge: "Basic realm=\"ops\"" })
      for (const path of routes) expectSecurityHeaders(yield* request(port, path), path)
      const full = yield* request(port, "/breakwater/events")
      expect(full.status).toBe(503)
      expect(full.headers["retry-after"]).toBe("10")
      const post = yield* request(port, "/breakwater/snapshot", {}, "POST")
      expect(post.status).toBe(404)
      expectSecurityHeaders(post, "/breakwater/snapshot")
      const page = yield* request(port, "/breakwater")
      expect(page.headers["content-type"]).toContain("text/html")
      // The page needs nothing the policy refuses: no inline script or style, same-origin assets only.
      expect(page.body).not.toMatch(/<script>|<style|style=|\son\w+=/)
      expect(page.body).toContain("<script src=\"/breakwater/assets/dashboard.js\"></script>")
    })))

  it.live("redaction removes configuration and guard names from the snapshot, the events and health", () =>
    Effect.scoped(Effect.gen(function*() {
      const { breaker, registry } = yield* withGuards
      yield* registry.bulkhead("db-primary.internal", { maxConcurrentCalls: 3 })
      const { port: plain } = yield* serveDashboard(registry)
      const { port } = yield* serveDashboard(registry, { redact: true, interval: "20 millis" })
      const { port: onlyNames } = yield* serveDashboard(registry, { redact: { names: true } })
      // Followed from the first document: the transition after it is in the log, with its name.
      yield* request(port, "/breakwater/snapshot")
      yield* request(plain, "/breakwater/snapshot")
      yield* breaker.transitionToOpen
      yield* Effect.sleep("60 millis") // real clock: two intervals, so the snapshot is a fresh document

      const shown = JSON.parse((yield* request(plain, "/breakwater/snapshot")).body) as Dashboard.Document
      expect(shown.guards[0]).toMatchObject({
        name: "payments.example.com",
        configuration: { failureRateThreshold: 37 }
      })

      const answers = [
        (yield* request(port, "/breakwater/snapshot")).body,
        (yield* request(port, "/breakwater/events")).body.replace(/^data: /, ""),
        (yield* request(port, "/breakwater/health")).body
      ]
      for (const body of answers) {
        expect(body).not.toContain("payments")
        expect(body).not.toContain("db-primary")
        expect(body).not.toContain("example.com")
      }
      const snapshot = JSON.parse(answers[0]!) as Dashboard.Document
      expect(snapshot.guards.map((g) => g.kind)).toEqual(["CircuitBreaker", "Bulkhead"])
      expect(snapshot.guards.map((g) => g.configuration)).toEqual([{}, {}])
      const [pseudonym] = snapshot.guards.map((g) => g.name)
      expect(pseudonym).toMatch(/^guard-[0-9a-f]{12}$/)
      expect(snapshot.guards[0]!.state).toBe("Open") // figures and state still shown
      expect(snapshot.transitions.map((t) => t.name)).toEqual([pseudonym])
      const event = JSON.parse(answers[1]!) as Dashboard.Document
      expect(event.guards[0]!.name).toBe(pseudonym) // stable across documents and routes
      const health = JSON.parse(answers[2]!) as { components: Record<string, { name: string }> }
      expect(Object.keys(health.components)).toContain(`circuitBreaker:${pseudonym}`)

      const names = JSON.parse((yield* request(onlyNames, "/breakwater/snapshot")).body) as Dashboard.Document
      expect(names.guards[0]!.configuration).toMatchObject({ failureRateThreshold: 37 })
      expect(names.guards[0]!.name).toMatch(/^guard-/)
      expect(names.guards[0]!.name).not.toBe(pseudonym) // keyed per dashboard
    })))

  it.effect("no Host header (HTTP/1.0) is refused even with \"*\"; ports, brackets and case are ignored", () =>
    Effect.sync(() => {
      expect(hostnameOf(undefined)).toBeUndefined()
      expect(hostAllowed(undefined, ["*"])).toBe(false)
      expect(hostAllowed("", ["*"])).toBe(false)
      expect(hostnameOf("[::1]:8080")).toBe("::1")
      expect(hostnameOf("Example.COM.")).toBe("example.com")
    }))

  it.effect("bad options are an InvalidConfigError naming the field and value", () =>
    Effect.gen(function*() {
      for (
        const [options, field] of [
          [{ maxViewers: -1 }, "maxViewers"],
          [{ maxHistoryBytes: 1.5 }, "maxHistoryBytes"],
          [{ history: -3 }, "history"],
          [{ interval: "0 millis" }, "interval"],
          [{ interval: Infinity }, "interval"],
          [{ allowedHosts: [""] }, "allowedHosts.0"],
          [{ redact: "yes" as unknown as boolean }, "redact"]
        ] as const
      ) {
        // `Effect.flip` reads the typed failure the same way on Effect 3 and 4 (a Cause differs).
        const error = yield* Effect.flip(Effect.scoped(Dashboard.make(options as Dashboard.Options)))
        expect(error.issues.map((i) => i.field), field).toContain(field)
      }
    }))
})

// Type-level: CircuitBreaker stays imported for the guard the snapshot shows.
void CircuitBreaker
