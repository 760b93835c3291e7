/**
 * A private redis-server with a `RedisStore` runtime for the guards under test and a raw ioredis client
 * for the attacker who writes poison under their keys. Registers its own beforeAll/afterAll.
 */
import { type CloseableScope } from "#port"
import { Effect, Exit, ManagedRuntime, Scope } from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll } from "vitest"
import type { InvalidConfigError } from "../../src/errors/InvalidConfigError.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import { Store } from "../../src/store/Store.js"
import { canRunFaultTests, type PrivateServer, privateServer } from "./redisServer.js"

export interface PoisonableRedis {
  readonly runnable: boolean
  readonly instance: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError>
  readonly attacker: Redis
  /** Where the guards under test live; closed after the file. */
  readonly scope: CloseableScope
}

export const poisonableRedis = (prefix: string): PoisonableRedis => {
  const runnable = canRunFaultTests()
  let server: PrivateServer | undefined
  let instance: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
  let attacker: Redis | undefined
  let scope: CloseableScope | undefined
  beforeAll(async () => {
    if (!runnable) return
    server = await privateServer()
    instance = ManagedRuntime.make(RedisStore.layer({ url: server.url }, { prefix, onStoreFailure: "fail-closed" }))
    await instance.runPromise(Store)
    attacker = new Redis(server.url)
    scope = await Effect.runPromise(Scope.make())
  })
  afterAll(async () => {
    if (!runnable) return
    if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
    await instance?.dispose()
    attacker?.disconnect()
    await server?.stop()
  })
  return {
    runnable,
    get instance() {
      return instance!
    },
    get attacker() {
      return attacker!
    },
    get scope() {
      return scope!
    }
  }
}
