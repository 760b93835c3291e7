/**
 * Anyone who can write to the breaker's Redis can leave any value under its keys and PUBLISH anything on
 * its channel. Each case writes the poison with a raw ioredis client into a real redis-server, then shows
 * the breaker treats unparsable stored state as lost (a fresh state with a TTL, an event, a metric) and a
 * published message as a hint to read the state, never as the state. Real clock, each case well under a
 * second.
 */
import { Effect, Stream } from "effect"
import { describe, expect, it } from "vitest"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { scopeProvide } from "#port"
import * as CircuitBreaker from "../../src/guards/CircuitBreaker.js"
import { poisonableRedis } from "../helpers/poisonableRedis.js"

const redis = poisonableRedis("poison")
const runnable = redis.runnable
const prefix = "poison"

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))
const stateKey = (name: string) => `${prefix}:circuit:{${name}}:state`
const windowKey = (name: string) => `${prefix}:circuit:{${name}}:window`

const breaker = (name: string, options: Partial<CircuitBreaker.Options> = {}) =>
  redis.instance.runPromise(
    scopeProvide(CircuitBreaker.make({ name, slidingWindowSize: 4, minimumNumberOfCalls: 4, ...options }), redis.scope)
  )

const eventsOf = (b: CircuitBreaker.CircuitBreaker) => {
  const seen: Array<CircuitBreaker.Event> = []
  Effect.runFork(Stream.runForEach(b.events, (e) => Effect.sync(() => seen.push(e))))
  return seen
}

/** Runs a successful call through the breaker: "ok", or the refusal's tag. */
const call = (b: CircuitBreaker.CircuitBreaker) =>
  redis.instance.runPromise(
    Effect.match(CircuitBreaker.withCircuitBreaker(Effect.succeed("ok"), b), {
      onFailure: (e) => e._tag,
      onSuccess: (v) => v
    })
  )

const discarded = (events: ReadonlyArray<CircuitBreaker.Event>) =>
  events.flatMap((e) => e._tag === "StoreStateDiscarded" ? [e.reason] : [])

const evalshaCalls = async () => {
  const info = await redis.attacker.info("commandstats")
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0)
}

describe.skipIf(!runnable)("a shared breaker whose Redis state was poisoned", () => {
  it("a stored state of \"Bogus\" with its TTL removed is discarded as lost, not refreshed forever", async () => {
    const b = await breaker("bogus")
    const events = eventsOf(b)
    await sleep(10)
    await redis.attacker.hset(stateKey("bogus"), "state", "Bogus")
    await redis.attacker.persist(stateKey("bogus"))
    const before = await redis.attacker.hget(stateKey("bogus"), "inc")
    // The cached state is Closed: the first call runs and its record meets the poison.
    expect(await call(b)).toBe("ok")
    expect(await call(b)).toBe("ok")
    expect(await redis.attacker.hget(stateKey("bogus"), "state")).toBe("Closed")
    expect(await redis.attacker.hget(stateKey("bogus"), "inc")).not.toBe(before)
    expect(await redis.attacker.pttl(stateKey("bogus"))).toBeGreaterThan(0)
    await sleep(10)
    expect(discarded(events)).toEqual(["invalid state"])
    const metrics = await Effect.runPromise(b.metrics)
    expect(metrics.storeStatesDiscarded).toBe(1)
    expect(metrics.storeOutages).toBe(0)
  })

  it("a key of the wrong type with no TTL is replaced by a fresh state", async () => {
    const b = await breaker("wrongtype")
    const events = eventsOf(b)
    await sleep(10)
    await redis.attacker.del(stateKey("wrongtype"))
    await redis.attacker.set(stateKey("wrongtype"), "not a hash")
    expect(await call(b)).toBe("ok")
    expect(await call(b)).toBe("ok")
    expect(await redis.attacker.type(stateKey("wrongtype"))).toBe("hash")
    expect(await redis.attacker.pttl(stateKey("wrongtype"))).toBeGreaterThan(0)
    // A window of the wrong type too.
    await redis.attacker.set(windowKey("wrongtype"), "not a list")
    expect(await call(b)).toBe("ok")
    expect(await redis.attacker.type(windowKey("wrongtype"))).toBe("list")
    await sleep(10)
    expect(discarded(events)).toEqual(["wrong type", "invalid window type"])
    expect((await Effect.runPromise(b.metrics)).storeOutages).toBe(0)
  })

  it("a garbage fingerprint (fresh, or dated in the future) neither fails calls nor makes the breaker flap", async () => {
    const b = await breaker("fingerprint")
    const events = eventsOf(b)
    await sleep(10)
    await redis.attacker.hset(stateKey("fingerprint"), "fp", "x|y|z", "fpAt", "99999999999999")
    const outcomes: Array<string> = []
    for (let i = 0; i < 10; i++) outcomes.push(await call(b))
    expect(outcomes).toEqual(Array(10).fill("ok"))
    await sleep(10)
    expect(discarded(events)).toEqual(["invalid fpAt"])
    expect(events.filter((e) => e._tag === "StoreUnavailable" || e._tag === "StateTransition")).toEqual([])
    // A fingerprint of the right shape whose values are out of range is discarded too.
    await redis.attacker.hset(stateKey("fingerprint"), "fp", "50|100|0|COUNT_BASED|0|4|10|0|0|Open|1000|-5")
    expect(await call(b)).toBe("ok")
    await sleep(10)
    expect(discarded(events)).toEqual(["invalid fpAt", "invalid fp"])
    expect(await redis.attacker.hget(stateKey("fingerprint"), "wsize")).toBe("4")
  })

  it("window entries or buckets that do not parse empty the window instead of failing every record", async () => {
    const counted = await breaker("entries")
    await sleep(10)
    for (let i = 0; i < 3; i++) expect(await call(counted)).toBe("ok")
    await redis.attacker.lset(windowKey("entries"), 0, "garbage")
    for (let i = 0; i < 3; i++) expect(await call(counted)).toBe("ok")
    const timed = await breaker("buckets", { slidingWindowType: "TIME_BASED", slidingWindowSize: 10 })
    await sleep(10)
    expect(await call(timed)).toBe("ok")
    const fields = await redis.attacker.hkeys(windowKey("buckets"))
    await redis.attacker.hset(windowKey("buckets"), fields[0]!, "garbage")
    for (let i = 0; i < 3; i++) expect(await call(timed)).toBe("ok")
    expect((await Effect.runPromise(timed.metrics)).storeOutages).toBe(0)
    expect((await Effect.runPromise(counted.metrics)).storeOutages).toBe(0)
    expect((await Effect.runPromise(timed.metrics)).storeStatesDiscarded).toBe(1)
  })

  it("a forged PUBLISH with generation 1e12 and ForcedOpen does not steer the breaker; transitionToClosed and reset work", async () => {
    const b = await breaker("forged")
    await sleep(10)
    const incarnation = await redis.attacker.hget(stateKey("forged"), "inc")
    const forged = JSON.stringify({
      snapshot: {
        state: "ForcedOpen",
        generation: 1e12,
        attempts: 1,
        openForMillis: -1,
        halfOpenForMillis: -1,
        calls: 0,
        failed: 0,
        slow: 0,
        slowFailed: 0,
        totalDurationMillis: 0,
        minimumNumberOfCalls: 4,
        leases: 0,
        notPermitted: 0,
        sequence: 1e12,
        incarnation
      },
      changes: [{ _tag: "Transition", from: "Closed", to: "ForcedOpen", sequence: 1e12 }]
    })
    // On the channel of this version and on the one before.
    await redis.attacker.publish(`${prefix}:circuit:{forged}:changes`, forged)
    await redis.attacker.publish(`${prefix}:circuit:forged`, forged)
    await sleep(30)
    expect(await Effect.runPromise(b.state)).toBe("Closed")
    await redis.instance.runPromise(b.transitionToClosed)
    await redis.instance.runPromise(b.reset)
    expect(await Effect.runPromise(b.state)).toBe("Closed")
    expect(await call(b)).toBe("ok")
    expect(await redis.attacker.hget(stateKey("forged"), "state")).toBe("Closed")
  })

  it("a forged state \"Bogus\" in a message is never taken; a flood of messages costs a bounded number of reads", async () => {
    const b = await breaker("flood")
    await sleep(10)
    const incarnation = await redis.attacker.hget(stateKey("flood"), "inc")
    const bogus = JSON.stringify({
      snapshot: {
        state: "Bogus",
        generation: 1e12,
        sequence: 1e12,
        openForMillis: -1,
        halfOpenForMillis: -1,
        incarnation
      },
      changes: []
    })
    await redis.attacker.publish(`${prefix}:circuit:{flood}:changes`, bogus)
    await redis.attacker.publish(`${prefix}:circuit:flood`, bogus)
    await sleep(30)
    expect(await call(b)).toBe("ok")
    const before = await evalshaCalls()
    const flood = redis.attacker.pipeline()
    for (let i = 0; i < 1_000; i++) flood.publish(`${prefix}:circuit:{flood}:changes`, "x")
    await flood.exec()
    await sleep(100)
    const reads = (await evalshaCalls()) - before
    console.info(`[poisoned state] 1,000 forged messages cost ${reads} reads`)
    // At most one read in flight and one more queued: far fewer reads than messages.
    expect(reads).toBeLessThan(100)
    expect(await call(b)).toBe("ok")
  })
})
