import { Option } from "effect"
import { describe, expect, it } from "vitest"
import { CallNotPermittedError } from "../src/guards/CircuitBreaker.js"
import { RequestNotPermittedError } from "../src/guards/RateLimiter.js"
import { isStoreFailure, StoreError } from "../src/store/Store.js"

const storeError = new StoreError({ store: "redis", operation: "circuitBreaker.record", key: "db", cause: "down" })

describe("Store.isStoreFailure", () => {
  it("is true for a refusal caused by the store, and for the StoreError itself", () => {
    expect(isStoreFailure(storeError)).toBe(true)
    expect(
      isStoreFailure(
        new CallNotPermittedError({ breakerName: "db", state: "Closed", retryAfter: Option.none(), cause: storeError })
      )
    ).toBe(true)
    expect(
      isStoreFailure(
        new RequestNotPermittedError({ limiterName: "api", permits: 1, retryAfter: Option.none(), cause: storeError })
      )
    ).toBe(true)
  })

  it("is false for the guards' own refusals and for anything else", () => {
    expect(isStoreFailure(new CallNotPermittedError({ breakerName: "db", state: "Open", retryAfter: Option.none() })))
      .toBe(false)
    expect(isStoreFailure({ _tag: "Other", cause: storeError })).toBe(false)
    expect(isStoreFailure("boom")).toBe(false)
    expect(isStoreFailure(null)).toBe(false)
  })
})
