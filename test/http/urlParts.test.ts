/**
 * The host and origin of request URLs, remembered by scheme and authority (the outbound client's key and
 * pool origin): always what `new URL(url)` gives, whatever the path, and never remembered with credentials.
 */
import { FastCheck as fc } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { authorityOf, UrlPartsCache } from "../../src/http/internal/urlParts.js"

/** What the client read before the cache: a fresh parse of the whole URL. */
const parsed = (url: string) => {
  try {
    const u = new URL(url)
    return { host: u.host, origin: u.origin }
  } catch {
    return undefined
  }
}

describe("authorityOf", () => {
  it("ends the authority where the URL parser does", () => {
    expect(authorityOf("http://a.example/x")).toBe("http://a.example")
    expect(authorityOf("https://a.example:8443?q=1")).toBe("https://a.example:8443")
    expect(authorityOf("http://a.example#top")).toBe("http://a.example")
    expect(authorityOf("http://a.example\\x")).toBe("http://a.example")
    expect(authorityOf("http://[::1]:80/")).toBe("http://[::1]:80")
  })

  it("has none without '://' or with user info", () => {
    expect(authorityOf("a.example/x")).toBeUndefined()
    expect(authorityOf("http:a.example/x")).toBeUndefined()
    expect(authorityOf("://a.example")).toBeUndefined()
    expect(authorityOf("http://user:secret@a.example/")).toBeUndefined()
  })
})

describe("UrlPartsCache", () => {
  it("answers as new URL does, first and second time, for any web URL", () => {
    const cache = new UrlPartsCache()
    fc.assert(
      fc.property(fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.webUrl(), (url, other) => {
        expect(cache.of(url)).toEqual(parsed(url))
        expect(cache.of(other)).toEqual(parsed(other))
        expect(cache.of(url)).toEqual(parsed(url))
      }),
      { numRuns: 2_000 }
    )
  })

  it("answers as new URL does for hostile strings: same authority, any tail; none when it does not parse", () => {
    const cache = new UrlPartsCache()
    const authority = fc.constantFrom("http://a.example", "HTTPS://A.Example:443", "http://[::1]:8080", "ws://h:99999")
    const tail = fc.string({ unit: "binary", maxLength: 40 })
    fc.assert(
      fc.property(authority, tail, tail, (head, first, second) => {
        for (const url of [head + first, head + second, head + "/" + first, head + first + "@x"]) {
          expect(cache.of(url)).toEqual(parsed(url))
        }
      }),
      { numRuns: 2_000 }
    )
  })

  it("stays right past the hosts it remembers", () => {
    const cache = new UrlPartsCache()
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 600; i++) {
        const url = `http://host-${i}.example:${8000 + i}/path/${round}`
        expect(cache.of(url)).toEqual({
          host: `host-${i}.example:${8000 + i}`,
          origin: `http://host-${i}.example:${8000 + i}`
        })
      }
    }
  })
})
