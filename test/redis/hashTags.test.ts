/**
 * Redis Cluster places a key by the CRC16 of its hash tag (the text between the first `{` and the next
 * `}`, unless that is empty). Every key a guard writes must share one slot whatever its name, or a
 * cluster could not run its scripts. For hostile names, each guard's keys (and its channel) are read back
 * from a real redis-server and their slots computed with `cluster-key-slot` (ioredis' own dependency).
 * test/redis/cluster.test.ts runs the same names on a real cluster and asks the cluster for each key's slot.
 */
import { type CloseableScope } from "#port"
import { Effect, Exit, Layer, ManagedRuntime, Scope } from "effect"
import { Redis } from "ioredis"
import { createRequire } from "node:module"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { InvalidConfigError } from "../../src/errors/InvalidConfigError.js"
import { hashTagOf } from "../../src/redis/internal/RedisConnection.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import { Store } from "../../src/store/Store.js"
import { canRunFaultTests, type PrivateServer, privateServer } from "../helpers/redisServer.js"
import { exerciseGuards, hostile } from "./fixtures/hostileNames.js"

const slotOf = createRequire(import.meta.url)("cluster-key-slot") as (key: string) => number

const runnable = canRunFaultTests()
const prefix = "tags"

let server: PrivateServer | undefined
let instance: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
let admin: Redis | undefined
let scope: CloseableScope

beforeAll(async () => {
  if (!runnable) return
  server = await privateServer()
  instance = ManagedRuntime.make(RedisStore.layer({ url: server.url }, { prefix }))
  await instance.runPromise(Store)
  admin = new Redis(server.url)
  scope = await Effect.runPromise(Scope.make())
})

afterAll(async () => {
  if (!runnable) return
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await instance?.dispose()
  admin?.disconnect()
  await server?.stop()
})

/** Every key (and the channel) one name's breaker and limiters write, after operations that create them all. */
const keysOf = async (name: string): Promise<ReadonlyArray<string>> => {
  await admin!.flushall()
  const snapshot = Effect.promise(async () => [
    ...await admin!.keys(`${prefix}:*`),
    ...await (admin!.pubsub("CHANNELS", `${prefix}:*`) as Promise<Array<string>>)
  ])
  return instance!.runPromise(Effect.scoped(exerciseGuards(name, snapshot)))
}

describe.skipIf(!runnable)("one Redis Cluster slot per guard, whatever its name", () => {
  it("every key and the channel of each hostile name's guards share one slot", async () => {
    const byName = new Map<string, ReadonlyArray<string>>()
    for (const name of hostile) {
      const keys = await keysOf(name)
      byName.set(name, keys)
      // state, window, leases, log (breaker); fixed, bucket, log, logstate, learned (limiters); the channel.
      expect(keys.filter((k) => k.includes(":circuit:")).map((k) => k.slice(k.lastIndexOf(":") + 1)).sort()).toEqual(
        ["changes", "leases", "log", "state", "window"]
      )
      expect(keys.filter((k) => k.includes(":ratelimiter:")).map((k) => k.slice(k.lastIndexOf(":") + 1)).sort())
        .toEqual(["bucket", "fixed", "learned", "log", "logstate"])
      const slots = new Set(keys.map(slotOf))
      expect({ name: name.slice(0, 40), slots: slots.size }).toEqual({ name: name.slice(0, 40), slots: 1 })
      // The slot is the tag's, never the whole key's.
      expect([...slots][0]).toBe(slotOf(hashTagOf(name)))
    }
    // Distinct names never share keys (the encoding is one-to-one).
    const all = [...byName.values()].flat()
    expect(new Set(all).size).toBe(all.length)
  })

  it("names without %, { or } keep the keys they had", () => {
    expect(hashTagOf("payments")).toBe("{payments}")
    expect(hashTagOf("ünïcödé 🚀")).toBe("{ünïcödé 🚀}")
    expect(hashTagOf("}a{%")).toBe("{%7Da%7B%25}")
  })

  it("a prefix with braces is refused (it would be the hash tag of every key)", async () => {
    for (const bad of ["a{b}", "{}", "x}"]) {
      const error = await Effect.runPromise(
        Effect.flip(Effect.scoped(Layer.build(RedisStore.layer({ url: server!.url }, { prefix: bad }))))
      )
      expect(error).toBeInstanceOf(InvalidConfigError)
      expect(String(error)).toMatch(/without whitespace or braces/)
    }
  })
})
