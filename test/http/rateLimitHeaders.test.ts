/**
 * The parser of an upstream's announced quota (IETF `RateLimit` / `RateLimit-Policy`, `X-RateLimit-*`):
 * the draft's own examples, then properties over hostile input (never throws, always bounded).
 */
import { FastCheck as fc } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import {
  MAX_FIELD_LENGTH,
  MAX_QUOTA,
  MAX_RESET_SECONDS,
  parseAnnouncedQuota
} from "../../src/http/internal/rateLimitHeaders.js"

const headers = (fields: Record<string, string>) => (name: string) => fields[name]

describe("parseAnnouncedQuota", () => {
  it("reads the IETF draft's fields: remaining r, reset t, with the policy's quota q and window w", () => {
    expect(parseAnnouncedQuota(
      headers({ "ratelimit": "\"default\";r=42;t=17", "ratelimit-policy": "\"default\";q=100;w=60" }),
      0
    )).toEqual({ remaining: 42, resetAfterMillis: 17_000, limit: 100, windowMillis: 60_000 })
  })

  it("takes the most restrictive of several policies, matched by name", () => {
    expect(parseAnnouncedQuota(
      headers({
        "ratelimit": "\"hour\";r=900;t=3000, \"burst\";r=3;t=1",
        "ratelimit-policy": "\"hour\";q=1000;w=3600, \"burst\";q=10;w=1"
      }),
      0
    )).toEqual({ remaining: 3, resetAfterMillis: 1_000, limit: 10, windowMillis: 1_000 })
  })

  it("reads the draft's earlier forms: draft 7's one dictionary and draft 6's separate fields", () => {
    expect(parseAnnouncedQuota(headers({ "ratelimit": "limit=100, remaining=25, reset=5" }), 0))
      .toEqual({ remaining: 25, resetAfterMillis: 5_000, limit: 100, windowMillis: undefined })
    expect(parseAnnouncedQuota(
      headers({ "ratelimit-limit": "10", "ratelimit-remaining": "0", "ratelimit-reset": "42" }),
      0
    )).toEqual({ remaining: 0, resetAfterMillis: 42_000, limit: 10, windowMillis: undefined })
    // The current draft wins over the older fields when a response carries both.
    expect(
      parseAnnouncedQuota(
        headers({ "ratelimit": "\"default\";r=3;t=1", "ratelimit-remaining": "99", "x-ratelimit-remaining": "98" }),
        0
      )?.remaining
    ).toBe(3)
    // Hostile values stay bounded in every form.
    expect(parseAnnouncedQuota(headers({ "ratelimit": "limit=1, remaining=99999999999, reset=1" }), 0)).toBeUndefined()
    expect(parseAnnouncedQuota(headers({ "ratelimit": "remaining=5, reset=9999999" }), 0)?.resetAfterMillis)
      .toBe(MAX_RESET_SECONDS * 1_000)
  })

  it("reads X-RateLimit-* with a delta or an epoch-seconds reset", () => {
    expect(parseAnnouncedQuota(
      headers({ "x-ratelimit-limit": "60", "x-ratelimit-remaining": "5", "x-ratelimit-reset": "30" }),
      0
    )).toEqual({ remaining: 5, resetAfterMillis: 30_000, limit: 60, windowMillis: undefined })
    const now = 1_700_000_000_000
    expect(
      parseAnnouncedQuota(
        headers({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(1_700_000_020) }),
        now
      )?.resetAfterMillis
    ).toBe(20_000)
    expect(parseAnnouncedQuota(headers({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1600000000" }), now))
      .toMatchObject({ resetAfterMillis: 0 })
  })

  it("caps absurd values and ignores malformed ones", () => {
    expect(parseAnnouncedQuota(
      headers({ "ratelimit": "\"x\";r=9999999999;t=9999999", "ratelimit-policy": "\"x\";q=9999999999;w=9999999" }),
      0
    )).toEqual({
      remaining: MAX_QUOTA,
      resetAfterMillis: MAX_RESET_SECONDS * 1_000,
      limit: MAX_QUOTA,
      windowMillis: MAX_RESET_SECONDS * 1_000
    })
    for (
      const bad of [
        { "ratelimit": "\"x\";r=-1;t=5" },
        { "ratelimit": "\"x\";r=1.5;t=5" },
        { "ratelimit": "\"x\";r=1e9" },
        { "ratelimit": "\"x" + "y".repeat(MAX_FIELD_LENGTH) + "\";r=1" },
        { "ratelimit": Array.from({ length: 17 }, (_, i) => `"p${i}";r=1`).join(",") },
        { "x-ratelimit-remaining": "lots" },
        { "x-ratelimit-remaining": "12345678901" },
        {}
      ]
    ) {
      expect(parseAnnouncedQuota(headers(bad), 0)).toBeUndefined()
    }
  })

  it("property: any header values parse without throwing to a bounded quota or nothing", () => {
    const field = fc.oneof(
      fc.string({ maxLength: 2_000 }),
      fc.tuple(fc.string({ maxLength: 8 }), fc.integer(), fc.integer()).map(([n, r, t]) => `"${n}";r=${r};t=${t}`),
      fc.tuple(fc.nat(), fc.nat()).map(([q, w]) => `"default";q=${q};w=${w}`)
    )
    fc.assert(
      fc.property(
        fc.record({
          "ratelimit": field,
          "ratelimit-policy": field,
          "x-ratelimit-limit": field,
          "x-ratelimit-remaining": field,
          "x-ratelimit-reset": field
        }, { requiredKeys: [] }),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        (fields, now) => {
          const quota = parseAnnouncedQuota(headers(fields as Record<string, string>), now)
          if (quota === undefined) return
          expect(Number.isInteger(quota.remaining) && quota.remaining >= 0 && quota.remaining <= MAX_QUOTA).toBe(true)
          expect(quota.resetAfterMillis >= 0 && quota.resetAfterMillis <= MAX_RESET_SECONDS * 1_000).toBe(true)
          if (quota.limit !== undefined) expect(quota.limit >= 0 && quota.limit <= MAX_QUOTA).toBe(true)
          if (quota.windowMillis !== undefined) {
            expect(quota.windowMillis > 0 && quota.windowMillis <= MAX_RESET_SECONDS * 1_000).toBe(true)
          }
        }
      ),
      { numRuns: 500 }
    )
  })

  it("property: a well-formed draft pair is read back exactly (within the caps)", () => {
    fc.assert(
      fc.property(fc.nat({ max: 100_000 }), fc.nat({ max: 80_000 }), fc.integer({ min: 1, max: 80_000 }), (r, t, w) => {
        const quota = parseAnnouncedQuota(
          headers({ "ratelimit": `"p";r=${r};t=${t}`, "ratelimit-policy": `"p";q=${r + 1};w=${w}` }),
          0
        )
        expect(quota).toEqual({ remaining: r, resetAfterMillis: t * 1_000, limit: r + 1, windowMillis: w * 1_000 })
      }),
      { numRuns: 300 }
    )
  })
})
