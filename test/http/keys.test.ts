/**
 * Client addresses, proxy lists and paths turned into keys (the pure functions behind the inbound
 * middleware's keys; the attacks themselves are in RateLimitMiddleware.attacks.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import {
  addressKey,
  clientAddress,
  isAddressOrRange,
  normalizePath,
  parseAddress,
  TrustedProxies
} from "../../src/http/internal/keys.js"

const key = (raw: string, prefix = 64) => {
  const address = parseAddress(raw)
  return address === undefined ? undefined : addressKey(address, prefix)
}

describe("address keys", () => {
  it("one key per address however it is spelled, IPv6 grouped by prefix", () => {
    expect(key("::ffff:7f00:1")).toBe("127.0.0.1")
    expect(key("0:0:0:0:0:ffff:127.0.0.1")).toBe("127.0.0.1")
    expect(key("2001:DB8:0:0:1:2:3:4", 128)).toBe("2001:db8::1:2:3:4")
    expect(key("2001:db8:aaaa:bbbb:1::", 56)).toBe("2001:db8:aaaa:bb00::/56")
    expect(key("2001:db8:aaaa:bbbb::1", 1)).toBe("::/1")
    expect(key("fe80::1%eth0")).toBe("fe80::/64")
    expect(key("::")).toBe("::/64")
    expect(key("::1", 128)).toBe("::1")
    expect(key("not an address")).toBeUndefined()
    expect(key("1.2.3.4:80")).toBeUndefined()
  })

  it("proxy lists: addresses and ranges of either family; malformed entries are named", () => {
    expect(["10.0.0.0/8", "::1", "2001:db8::/32", "1.2.3.4"].every(isAddressOrRange)).toBe(true)
    expect(["10.0.0.0/33", "::/129", "10.0.0.0/8/8", "proxy", "10.0.0.0/x", ""].some(isAddressOrRange)).toBe(false)
    const list = new TrustedProxies(["10.0.0.0/8", "2001:db8::/32", "::1"])
    expect(list.includes(parseAddress("10.1.2.3")!)).toBe(true)
    expect(list.includes(parseAddress("::ffff:10.1.2.3")!)).toBe(true)
    expect(list.includes(parseAddress("2001:db8:ffff::9")!)).toBe(true)
    expect(list.includes(parseAddress("::1")!)).toBe(true)
    expect(list.includes(parseAddress("2001:db9::1")!)).toBe(false)
    expect(() => new TrustedProxies(["nope/8"])).toThrow("nope/8")
  })

  it("the walk through X-Forwarded-For stops at the first address that is not a listed proxy", () => {
    const list = new TrustedProxies(["10.0.0.0/8"])
    const walk = (xff: string | undefined, peer: string | undefined, hops = 32) => {
      const address = clientAddress(xff, peer, list, hops)
      return address === undefined ? undefined : addressKey(address, 64)
    }
    expect(walk("1.1.1.1, 10.0.0.2", "10.0.0.1")).toBe("1.1.1.1")
    expect(walk("1.1.1.1, 2.2.2.2", "10.0.0.1")).toBe("2.2.2.2")
    expect(walk("10.0.0.3, 10.0.0.2", "10.0.0.1")).toBe("10.0.0.3") // all listed: the leftmost walked
    expect(walk("garbage, 10.0.0.2", "10.0.0.1")).toBe("10.0.0.2") // stops at the proxy that wrote it
    expect(walk("1.1.1.1", "9.9.9.9")).toBe("9.9.9.9") // not from a proxy: ignored
    expect(walk("1.1.1.1", "10.0.0.1", 0)).toBe("10.0.0.1")
    expect(walk(undefined, "10.0.0.1")).toBe("10.0.0.1")
    expect(walk("1.1.1.1", undefined)).toBeUndefined()
    // Only the tail of an enormous header is read: its head is the client's to forge.
    expect(walk(`${"6.6.6.6, ".repeat(10_000)}3.3.3.3, 10.0.0.2`, "10.0.0.1")).toBe("3.3.3.3")
  })
})

describe("normalizePath", () => {
  it("one spelling per path", () => {
    for (
      const path of [
        "/quotes",
        "/quotes/",
        "//quotes",
        "/%71uotes",
        "/QUOTES",
        "/quotes;a=1",
        "/a/../quotes",
        "/./quotes#x",
        "/quotes?x=1"
      ]
    ) {
      expect(normalizePath(path)).toBe("/quotes")
    }
    expect(normalizePath("/")).toBe("/")
    expect(normalizePath("/a/%zz/b")).toBe("/a/%zz/b") // a bad escape is kept as it is
    expect(normalizePath("/../..")).toBe("/")
    expect(normalizePath("/a#b?c")).toBe("/a")
  })
})
