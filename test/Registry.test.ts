import { failureOf } from "#port"
import { configFromEnv, configFromJson, itScoped, withConfig } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Option } from "effect"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as Retry from "../src/guards/Retry.js"
import * as Registry from "../src/registry/Registry.js"

const failTimes = (breaker: CircuitBreaker.CircuitBreaker, n: number) =>
  Effect.forEach(
    Array.from({ length: n }),
    () => Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("boom"), breaker)),
    { discard: true }
  )

/** The typed error an exit failed with, if it failed with one. */
const failure = <E>(exit: Exit.Exit<unknown, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(failureOf(exit.cause)) : undefined

describe("Registry", () => {
  itScoped(
    "resolves baseConfig (else default), then instance keys, then code, then name",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make({
          circuitBreaker: {
            configs: {
              default: { failureRateThreshold: 50, slidingWindowSize: 20, minimumNumberOfCalls: 20 },
              strict: { failureRateThreshold: 10, minimumNumberOfCalls: 4 }
            },
            instances: { payments: { baseConfig: "strict", slidingWindowSize: 4 } }
          }
        })
        const payments = yield* registry.circuitBreaker("payments", { recordError: (e) => e === "boom" })
        const search = yield* registry.circuitBreaker("search")
        // payments: window 4 (instance), min 4 and 10% (strict): one failure in four trips it.
        yield* Effect.forEach([1, 2, 3], () => CircuitBreaker.withCircuitBreaker(Effect.void, payments))
        yield* failTimes(payments, 1)
        expect(yield* payments.state).toBe("Open")
        // search: defaults only (20 calls needed).
        yield* failTimes(search, 19)
        expect(yield* search.state).toBe("Closed")
        expect((yield* search.metrics).failureRate).toBe(-1)
      })
  )

  itScoped("returns the same instance for the same name and lists every live guard", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make()
      const a = yield* registry.circuitBreaker("a")
      const again = yield* registry.circuitBreaker("a")
      yield* registry.circuitBreaker("b")
      expect(again).toBe(a)
      expect((yield* registry.guards).map((g) => `${g.kind}/${g.name}`)).toEqual([
        "CircuitBreaker/a",
        "CircuitBreaker/b"
      ])
    }))

  itScoped("creates one instance when many fibers ask for a name at once", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make()
      const breakers = yield* Effect.all(Array.from({ length: 50 }, () => registry.circuitBreaker("shared")), {
        concurrency: "unbounded"
      })
      expect(new Set(breakers).size).toBe(1)
      expect((yield* registry.guards).length).toBe(1)
    }))

  it.effect("an unknown baseConfig is an InvalidConfigError naming the field, at make", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Effect.scoped(Registry.make({ circuitBreaker: { instances: { x: { baseConfig: "nope" } } } }))
      )
      expect(Exit.isFailure(exit)).toBe(true)
      if (failure(exit) !== undefined) {
        expect(failure(exit)!.issues[0]?.field).toBe("circuitBreaker.instances.x.baseConfig")
        expect(failure(exit)!.issues[0]?.value).toBe("nope")
      }
    }))

  itScoped(
    "invalid configured values fail make; invalid code options fail creation with the guard's error",
    () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(
          Effect.scoped(Registry.make({ circuitBreaker: { configs: { default: { failureRateThreshold: 0 } } } }))
        )
        expect(exit._tag).toBe("Failure")
        if (failure(exit) !== undefined) {
          expect(failure(exit)!.issues.map((i) => i.field)).toEqual([
            "circuitBreaker.configs.default.failureRateThreshold"
          ])
        }
        const registry = yield* Registry.make()
        const created = yield* Effect.exit(registry.circuitBreaker("x", { failureRateThreshold: 0 }))
        expect(failure(created) !== undefined && failure(created)!.issues[0]?.field).toBe(
          "failureRateThreshold"
        )
        expect((yield* registry.guards).length).toBe(0)
      })
  )

  itScoped("reload reconfigures live guards in place, keeping their state", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make({
        circuitBreaker: { configs: { default: { slidingWindowSize: 10, minimumNumberOfCalls: 10 } } }
      })
      const breaker = yield* registry.circuitBreaker("inventory")
      yield* failTimes(breaker, 3)
      yield* Effect.forEach([1, 2, 3, 4, 5, 6], () => CircuitBreaker.withCircuitBreaker(Effect.void, breaker))
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(9)
      // Lower the minimum: the nine buffered calls are kept and the next call trips at 30% >= 25%.
      yield* registry.reload({
        circuitBreaker: {
          configs: { default: { slidingWindowSize: 10, minimumNumberOfCalls: 5, failureRateThreshold: 25 } }
        }
      })
      expect(yield* registry.circuitBreaker("inventory")).toBe(breaker)
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(9)
      yield* CircuitBreaker.withCircuitBreaker(Effect.void, breaker)
      expect(yield* breaker.state).toBe("Open")
      expect((yield* registry.spec).circuitBreaker?.configs?.["default"]?.failureRateThreshold).toBe(25)
    }))

  itScoped(
    "a reload with invalid values fails, naming the guard and field, and changes nothing",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make({ circuitBreaker: { configs: { default: { minimumNumberOfCalls: 2 } } } })
        const breaker = yield* registry.circuitBreaker("inventory")
        const exit = yield* Effect.exit(
          registry.reload({
            circuitBreaker: { configs: { default: { minimumNumberOfCalls: 2, failureRateThreshold: 300 } } }
          })
        )
        expect(exit._tag).toBe("Failure")
        if (failure(exit) !== undefined) {
          expect(failure(exit)!.guard).toBe("Registry")
          expect(failure(exit)!.issues.map((i) => [i.field, i.value])).toEqual([
            ["circuitBreaker.configs.default.failureRateThreshold", 300]
          ])
        }
        yield* failTimes(breaker, 2)
        expect(yield* breaker.state).toBe("Open") // still the old 50% threshold and minimum of 2
      })
  )

  it.effect("reads its spec through effect/Config and reloads from it", () =>
    Effect.gen(function*() {
      const first = configFromJson({
        resilience: {
          circuitBreaker: {
            configs: { default: { failureRateThreshold: 40, slidingWindowSize: 5 } },
            instances: { payments: { minimumNumberOfCalls: 5, waitDurationInOpenState: "10 seconds" } }
          }
        }
      })
      const spec = yield* withConfig(first)(Registry.config("resilience"))
      expect(spec.circuitBreaker?.configs?.["default"]).toEqual({ failureRateThreshold: 40, slidingWindowSize: 5 })
      expect(spec.circuitBreaker?.instances?.["payments"]).toEqual({
        minimumNumberOfCalls: 5,
        waitDurationInOpenState: "10 seconds"
      })

      yield* Effect.scoped(Effect.gen(function*() {
        const registry = yield* Registry.make(spec)
        const payments = yield* registry.circuitBreaker("payments")
        // Text values, as a flat source (environment, properties) gives them.
        const second = configFromJson({
          resilience: {
            circuitBreaker: {
              configs: { default: { failureRateThreshold: "20" } },
              instances: { payments: { minimumNumberOfCalls: "1" } }
            }
          }
        })
        yield* withConfig(second)(registry.reloadFrom(Registry.config("resilience")))
        yield* failTimes(payments, 1)
        expect(yield* payments.state).toBe("Open")
      }))
    }))

  it.effect("is available as a Layer, from code or from Config", () =>
    Effect.gen(function*() {
      const names = Effect.gen(function*() {
        const registry = yield* Registry.Registry
        yield* registry.circuitBreaker("one")
        return (yield* registry.guards).map((g) => g.name)
      })
      expect(yield* Effect.provide(names, Registry.layer())).toEqual(["one"])
      const fromConfig = Registry.layerConfig(Registry.config())
      expect(yield* Effect.provide(names, fromConfig).pipe(withConfig(configFromJson({})))).toEqual(["one"])
    }))

  itScoped("holds every kind of guard and reconfigures each in place on reload", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make({
        circuitBreaker: { configs: { default: { minimumNumberOfCalls: 10 } } },
        rateLimiter: { instances: { api: { limitForPeriod: 5, limitRefreshPeriod: "1 minute", timeoutDuration: 0 } } },
        bulkhead: { configs: { default: { maxConcurrentCalls: 3 } } },
        timeLimiter: { instances: { slow: { timeoutDuration: "2 seconds" } } },
        retry: { configs: { default: { maxAttempts: 2, waitDuration: 0 } } }
      })
      yield* registry.circuitBreaker("payments")
      const limiter = yield* registry.rateLimiter("api")
      const bulkhead = yield* registry.bulkhead("pool")
      const timeLimiter = yield* registry.timeLimiter("slow")
      const retry = yield* registry.retry("calls")
      expect((yield* registry.guards).map((g) => `${g.kind}/${g.name}`)).toEqual([
        "CircuitBreaker/payments",
        "RateLimiter/api",
        "Bulkhead/pool",
        "TimeLimiter/slow",
        "Retry/calls"
      ])
      expect((yield* limiter.metrics).availablePermissions).toBe(5)
      expect((yield* bulkhead.metrics).maxAllowedConcurrentCalls).toBe(3)
      expect(Duration.toMillis((yield* timeLimiter.settings).timeoutDuration)).toBe(2000)
      const attempts = (yield* Effect.exit(Retry.withRetry(countedFailure(), retry))) && lastCount
      expect(attempts).toBe(2)

      yield* registry.reload({
        circuitBreaker: { configs: { default: { minimumNumberOfCalls: 10 } } },
        rateLimiter: { instances: { api: { limitForPeriod: 5, limitRefreshPeriod: "1 minute", timeoutDuration: 0 } } },
        bulkhead: { configs: { default: { maxConcurrentCalls: 7 } } },
        timeLimiter: { instances: { slow: { timeoutDuration: "3 seconds" } } },
        retry: { configs: { default: { maxAttempts: 4, waitDuration: 0 } } }
      })
      expect((yield* bulkhead.metrics).maxAllowedConcurrentCalls).toBe(7)
      expect(Duration.toMillis((yield* timeLimiter.settings).timeoutDuration)).toBe(3000)
      yield* Effect.exit(Retry.withRetry(countedFailure(), retry))
      expect(lastCount).toBe(4)
      expect(yield* registry.rateLimiter("api")).toBe(limiter)
    }))

  itScoped("a key removed from the configuration goes back to its default on reload", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make({ bulkhead: { configs: { default: { maxConcurrentCalls: 5 } } } })
      const bulkhead = yield* registry.bulkhead("pool")
      expect((yield* bulkhead.metrics).maxAllowedConcurrentCalls).toBe(5)
      yield* registry.reload({})
      expect((yield* bulkhead.metrics).maxAllowedConcurrentCalls).toBe(25) // Resilience4j's default
    }))

  itScoped(
    "a reload is all or nothing: one invalid guard leaves every guard and the spec unchanged",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make({
          bulkhead: { configs: { default: { maxConcurrentCalls: 2 } } },
          timeLimiter: { configs: { default: { timeoutDuration: "2 seconds" } } }
        })
        const bulkhead = yield* registry.bulkhead("pool")
        const timeLimiter = yield* registry.timeLimiter("slow")
        const exit = yield* Effect.exit(registry.reload({
          bulkhead: { configs: { default: { maxConcurrentCalls: 9 } } },
          timeLimiter: { configs: { default: { timeoutDuration: 0 } } }
        }))
        expect(exit._tag).toBe("Failure")
        expect((yield* bulkhead.metrics).maxAllowedConcurrentCalls).toBe(2)
        expect(Duration.toMillis((yield* timeLimiter.settings).timeoutDuration)).toBe(2000)
        expect((yield* registry.spec).bulkhead?.configs?.["default"]?.maxConcurrentCalls).toBe(2)
        // A guard created after the failed reload uses the last good configuration.
        const later = yield* registry.timeLimiter("later")
        expect(Duration.toMillis((yield* later.settings).timeoutDuration)).toBe(2000)
      })
  )

  it.effect("reads names from the environment whatever their case (constant-case provider)", () =>
    Effect.gen(function*() {
      const provider = configFromEnv({
        BULKHEAD_CONFIGS_DEFAULT_MAX_CONCURRENT_CALLS: "7",
        BULKHEAD_INSTANCES_DB_MAX_CONCURRENT_CALLS: "3"
      })
      const spec = yield* withConfig(provider)(Registry.config())
      const [pool, db] = yield* Effect.scoped(Effect.gen(function*() {
        const registry = yield* Registry.make(spec)
        const pool = yield* Effect.flatMap(registry.bulkhead("pool"), (b) => b.metrics)
        const db = yield* Effect.flatMap(registry.bulkhead("db"), (b) => b.metrics)
        return [pool, db] as const
      }))
      expect(pool.maxAllowedConcurrentCalls).toBe(7)
      expect(db.maxAllowedConcurrentCalls).toBe(3)
    }))

  it.effect("reads every kind from effect/Config", () =>
    Effect.gen(function*() {
      const provider = configFromJson({
        rateLimiter: { configs: { default: { limitForPeriod: 10, limitRefreshPeriod: "1 second" } } },
        bulkhead: { instances: { db: { maxConcurrentCalls: 4, maxWaitDuration: 50 } } },
        timeLimiter: { configs: { default: { timeoutDuration: "750 millis" } } },
        retry: {
          instances: { api: { baseConfig: "default", maxAttempts: 5 } },
          configs: { default: { waitDuration: 10 } }
        }
      })
      const spec = yield* withConfig(provider)(Registry.config())
      expect(spec.rateLimiter?.configs?.["default"]).toEqual({ limitForPeriod: 10, limitRefreshPeriod: "1 second" })
      expect(spec.bulkhead?.instances?.["db"]).toEqual({ maxConcurrentCalls: 4, maxWaitDuration: 50 })
      expect(spec.retry?.instances?.["api"]).toEqual({ baseConfig: "default", maxAttempts: 5 })
      const bulkhead = yield* Effect.scoped(
        Effect.flatMap(Registry.make(spec), (registry) => Effect.flatMap(registry.bulkhead("db"), (b) => b.metrics))
      )
      expect(bulkhead.maxAllowedConcurrentCalls).toBe(4)
    }))
})

let lastCount = 0
/** An always-failing call that counts its attempts into `lastCount`. */
const countedFailure = () => {
  lastCount = 0
  return Effect.suspend(() => {
    lastCount++
    return Effect.fail("down")
  })
}
