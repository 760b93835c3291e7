import { failureOf } from "#port"
import { configFromJson, itScoped, withConfig } from "#test-port"
/**
 * Spring's `resilience4j.<kind>.configs.<name>.baseConfig`, with the values Resilience4j's own
 * `*ConfigurationPropertiesTest`s expect (resilience4j-framework-common), for every kind the registry
 * holds; and the specification checked as a whole at `Registry.make`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Option } from "effect"
import type { InvalidConfigError } from "../src/errors/InvalidConfigError.js"
import * as AdaptiveLimiter from "../src/guards/AdaptiveLimiter.js"
import * as AdaptiveThrottler from "../src/guards/AdaptiveThrottler.js"
import * as Bulkhead from "../src/guards/Bulkhead.js"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as Hedge from "../src/guards/Hedge.js"
import * as RateLimiter from "../src/guards/RateLimiter.js"
import * as Retry from "../src/guards/Retry.js"
import * as Snapshot from "../src/observability/Snapshot.js"
import * as Registry from "../src/registry/Registry.js"

const millis = (d: Duration.Duration | unknown) => Duration.toMillis(d as Duration.Duration)

const failure = <A>(exit: Exit.Exit<A, InvalidConfigError>): InvalidConfigError => {
  const error = Exit.isFailure(exit) ? Option.getOrUndefined(failureOf(exit.cause)) : undefined
  if (error !== undefined) return error
  throw new Error(`expected an InvalidConfigError, got ${String(exit)}`)
}

describe("Registry baseConfig (Resilience4j / Spring)", () => {
  itScoped(
    "circuitBreakerConfigWithBaseConfig: a shared config inherits another (window 2000, wait 1 s)",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make({
          circuitBreaker: {
            configs: {
              defaultConfig: { slidingWindowSize: 2000, waitDurationInOpenState: "100 millis" },
              sharedConfig: { baseConfig: "defaultConfig", waitDurationInOpenState: "1 second" }
            },
            instances: { instanceWithSharedConfig: { baseConfig: "sharedConfig" } }
          }
        })
        const config = yield* CircuitBreaker.configuration(yield* registry.circuitBreaker("instanceWithSharedConfig"))
        expect(config.slidingWindowSize).toBe(2000)
        expect(millis(config.waitDurationInOpenState)).toBe(1000)
      })
  )

  itScoped(
    "createCircuitBreakerRegistryWithSharedConfigs / WithDefaultConfig: which config an instance starts from",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make({
          circuitBreaker: {
            configs: {
              default: {
                slidingWindowSize: 1000,
                minimumNumberOfCalls: 10,
                permittedNumberOfCallsInHalfOpenState: 100,
                waitDurationInOpenState: "100 millis"
              },
              sharedConfig: {
                slidingWindowSize: 1337,
                slidingWindowType: "TIME_BASED",
                permittedNumberOfCallsInHalfOpenState: 1000
              }
            },
            instances: {
              backendWithoutBaseConfig: { permittedNumberOfCallsInHalfOpenState: 99 },
              backendWithSharedConfig: { baseConfig: "sharedConfig", permittedNumberOfCallsInHalfOpenState: 999 }
            }
          }
        })
        const without = yield* CircuitBreaker.configuration(yield* registry.circuitBreaker("backendWithoutBaseConfig"))
        expect(without.slidingWindowSize).toBe(1000)
        expect(without.permittedNumberOfCallsInHalfOpenState).toBe(99)
        const shared = yield* CircuitBreaker.configuration(yield* registry.circuitBreaker("backendWithSharedConfig"))
        expect(shared.slidingWindowSize).toBe(1337)
        expect(shared.slidingWindowType).toBe("TIME_BASED")
        expect(shared.permittedNumberOfCallsInHalfOpenState).toBe(999)
        // A config that names no baseConfig starts from the guard's defaults, not from configs.default.
        expect(millis(shared.waitDurationInOpenState)).toBe(60_000)
        expect(shared.minimumNumberOfCalls).toBe(100)
        const unknown = yield* CircuitBreaker.configuration(yield* registry.circuitBreaker("UN_KNOWN"))
        expect(unknown.slidingWindowSize).toBe(1000)
      })
  )

  itScoped(
    "createCircuitBreakerRegistryWithBaseAndDefaultConfig: configs.default may name a baseConfig",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make({
          circuitBreaker: {
            configs: {
              baseConfig: {
                slidingWindowType: "COUNT_BASED",
                slidingWindowSize: 2000,
                maxWaitDurationInHalfOpenState: 100
              },
              default: { slidingWindowType: "COUNT_BASED", slidingWindowSize: 1000, baseConfig: "baseConfig" }
            }
          }
        })
        const config = yield* CircuitBreaker.configuration(yield* registry.circuitBreaker("any"))
        expect(millis(config.maxWaitDurationInHalfOpenState)).toBe(100)
        expect(config.slidingWindowSize).toBe(1000)
        expect(config.slidingWindowType).toBe("COUNT_BASED")
      })
  )

  itScoped(
    "configs.<instanceName> applies to the instance of that name (over its own chain)",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make({
          circuitBreaker: {
            configs: {
              default: { failureRateThreshold: 30 },
              payments: { baseConfig: "default", slidingWindowSize: 7 }
            },
            instances: { payments: { minimumNumberOfCalls: 5 } }
          }
        })
        const config = yield* CircuitBreaker.configuration(yield* registry.circuitBreaker("payments"))
        expect([config.failureRateThreshold, config.slidingWindowSize, config.minimumNumberOfCalls]).toEqual([30, 7, 5])
      })
  )

  itScoped("rateLimiterConfigWithBaseConfig: limitForPeriod 2000, refresh 1 s", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make({
        rateLimiter: {
          configs: {
            defaultConfig: { limitForPeriod: 2000, limitRefreshPeriod: "100 millis" },
            sharedConfig: { baseConfig: "defaultConfig", limitRefreshPeriod: "1 second" }
          },
          instances: { instanceWithSharedConfig: { baseConfig: "sharedConfig" } }
        }
      })
      const config = yield* RateLimiter.configuration(yield* registry.rateLimiter("instanceWithSharedConfig"))
      expect(config.limitForPeriod).toBe(2000)
      expect(millis(config.limitRefreshPeriod)).toBe(1000)
    }))

  itScoped(
    "createRateLimiterRegistryWithDefaultConfig: 200 over default's 5 ms, 300 over shared's 6 ms, unknown 3",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make({
          rateLimiter: {
            configs: {
              default: { limitForPeriod: 3, limitRefreshPeriod: "5 millis" },
              sharedConfig: { limitForPeriod: 2, limitRefreshPeriod: "6 millis" }
            },
            instances: {
              backendWithoutBaseConfig: { limitForPeriod: 200 },
              backendWithSharedConfig: { baseConfig: "sharedConfig", limitForPeriod: 300 }
            }
          }
        })
        const read = (name: string) => Effect.flatMap(registry.rateLimiter(name), RateLimiter.configuration)
        const without = yield* read("backendWithoutBaseConfig")
        expect([without.limitForPeriod, millis(without.limitRefreshPeriod)]).toEqual([200, 5])
        const shared = yield* read("backendWithSharedConfig")
        expect([shared.limitForPeriod, millis(shared.limitRefreshPeriod)]).toEqual([300, 6])
        expect((yield* read("unknownBackend")).limitForPeriod).toBe(3)
      })
  )

  itScoped(
    "bulkheadConfigWithBaseConfig and WithSharedConfigs: 2000 slots and 1 s; 3 / 200 ms; 2 / 300 ms",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make({
          bulkhead: {
            configs: {
              defaultConfig: { maxConcurrentCalls: 2000, maxWaitDuration: "100 millis" },
              sharedConfig: { baseConfig: "defaultConfig", maxWaitDuration: "1 second" },
              three: { maxConcurrentCalls: 3, maxWaitDuration: "50 millis" },
              two: { maxConcurrentCalls: 2, maxWaitDuration: "100 millis" }
            },
            instances: {
              instanceWithSharedConfig: { baseConfig: "sharedConfig" },
              backendWithDefaultConfig: { baseConfig: "three", maxWaitDuration: "200 millis" },
              backendWithSharedConfig: { baseConfig: "two", maxWaitDuration: "300 millis" }
            }
          }
        })
        const read = (name: string) =>
          Effect.map(Effect.flatMap(registry.bulkhead(name), Bulkhead.configuration), (c) => [
            c.maxConcurrentCalls,
            millis(c.maxWaitDuration)
          ])
        expect(yield* read("instanceWithSharedConfig")).toEqual([2000, 1000])
        expect(yield* read("backendWithDefaultConfig")).toEqual([3, 200])
        expect(yield* read("backendWithSharedConfig")).toEqual([2, 300])
        // No configs.default: the guard's own defaults (25 slots, no wait).
        expect(yield* read("unknown")).toEqual([25, 0])
      })
  )

  itScoped("retryConfigWithBaseConfig: maxAttempts 10, wait 1 s", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make({
        retry: {
          configs: {
            defaultConfig: { maxAttempts: 10, waitDuration: "100 millis" },
            sharedConfig: { baseConfig: "defaultConfig", waitDuration: "1 second" }
          },
          instances: { instanceWithSharedConfig: { baseConfig: "sharedConfig" } }
        }
      })
      const config = yield* Retry.configuration(yield* registry.retry("instanceWithSharedConfig"))
      expect(config.maxAttempts).toBe(10)
      expect(millis(config.waitDuration)).toBe(1000)
    }))

  itScoped(
    "timeLimiterConfigWithBaseConfig: timeout 4 s from the base, cancelRunningCall from the shared",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make({
          timeLimiter: {
            configs: {
              defaultConfig: { timeoutDuration: "4 seconds", cancelRunningCall: false },
              sharedConfig: { baseConfig: "defaultConfig", cancelRunningCall: true }
            },
            instances: { instanceWithSharedConfig: { baseConfig: "sharedConfig" } }
          }
        })
        const settings = yield* (yield* registry.timeLimiter("instanceWithSharedConfig")).settings
        expect(millis(settings.timeoutDuration)).toBe(4000)
        expect(settings.cancelRunningCall).toBe(true)
      })
  )

  itScoped("adaptive guards and hedges follow the same chains", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make({
        hedge: {
          configs: { reads: { delay: 100, maxHedgedAttempts: 1 }, fastReads: { baseConfig: "reads", delay: 20 } },
          instances: { profiles: { baseConfig: "fastReads" } }
        },
        adaptiveLimiter: { configs: { base: { maxLimit: 50 }, default: { baseConfig: "base", minLimit: 2 } } }
      })
      const hedge = yield* Hedge.configuration(yield* registry.hedge("profiles"))
      expect([Duration.toMillis(hedge.delay), hedge.maxHedgedAttempts, hedge.sampleSize]).toEqual([20, 1, 100])
      const limiter = yield* AdaptiveLimiter.configuration(yield* registry.adaptiveLimiter("search"))
      expect([limiter.minLimit, limiter.maxLimit, limiter.algorithm, Duration.toMillis(limiter.timeout)]).toEqual([
        2,
        50,
        "gradient",
        5000
      ])
      const throttler = yield* AdaptiveThrottler.configuration(yield* registry.adaptiveThrottler("upstream"))
      expect([throttler.k, Duration.toMillis(throttler.window)]).toEqual([2, 120_000])
      // The Snapshot shows each guard's resolved configuration.
      const { guards } = yield* Snapshot.make(registry)
      expect(guards.find((g) => g.kind === "Hedge")?.configuration).toMatchObject({ delay: 20, maxHedgedAttempts: 1 })
      expect(guards.find((g) => g.kind === "AdaptiveLimiter")?.configuration).toMatchObject({
        maxLimit: 50,
        minLimit: 2
      })
    }))

  describe("rejected at Registry.make, with one InvalidConfigError naming every field", () => {
    it.effect("circularReferenceInBaseConfigThrowsIllegalStateException: a config naming itself", () =>
      Effect.gen(function*() {
        const error = failure(
          yield* Effect.exit(Effect.scoped(Registry.make({
            circuitBreaker: { configs: { selfReferencingConfig: { baseConfig: "selfReferencingConfig" } } }
          })))
        )
        expect(error.issues).toEqual([{
          field: "circuitBreaker.configs.selfReferencingConfig.baseConfig",
          value: "selfReferencingConfig",
          rule: "is a circular reference (selfReferencingConfig -> selfReferencingConfig)"
        }])
      }))

    it.effect("an instance whose baseConfig is its own name (Resilience4j: circular reference)", () =>
      Effect.gen(function*() {
        const error = failure(
          yield* Effect.exit(Effect.scoped(Registry.make({
            circuitBreaker: {
              configs: { payments: { slidingWindowSize: 5 } },
              instances: { payments: { baseConfig: "payments" } }
            }
          })))
        )
        expect(error.issues.map((i) => [i.field, i.rule])).toEqual([
          ["circuitBreaker.instances.payments.baseConfig", "is a circular reference (payments -> payments)"]
        ])
      }))

    itScoped(
      "an instance's chain may pass through the configuration of its own name (no cycle)",
      () =>
        Effect.gen(function*() {
          const registry = yield* Registry.make({
            circuitBreaker: {
              configs: {
                payments: { slidingWindowSize: 7 },
                shared: { baseConfig: "payments", minimumNumberOfCalls: 3 }
              },
              instances: { payments: { baseConfig: "shared" } }
            }
          })
          const config = yield* CircuitBreaker.configuration(yield* registry.circuitBreaker("payments"))
          expect([config.slidingWindowSize, config.minimumNumberOfCalls]).toEqual([7, 3])
        })
    )

    it.effect("a longer cycle (Resilience4j overflows its stack) and a cycle through configs.default", () =>
      Effect.gen(function*() {
        const error = failure(
          yield* Effect.exit(Effect.scoped(Registry.make({
            rateLimiter: {
              configs: { a: { baseConfig: "b" }, b: { baseConfig: "c" }, c: { baseConfig: "a", limitForPeriod: 1 } }
            },
            bulkhead: { configs: { default: { baseConfig: "x" }, x: { baseConfig: "default" } } }
          })))
        )
        const rules = error.issues.map((i) => `${i.field}: ${i.rule}`)
        expect(rules).toContain("rateLimiter.configs.c.baseConfig: is a circular reference (a -> b -> c -> a)")
        expect(rules).toContain("bulkhead.configs.x.baseConfig: is a circular reference (default -> x -> default)")
      }))

    it.effect("createCircuitBreakerRegistryWithUnknownConfig: an unknown baseConfig, in an instance or a config", () =>
      Effect.gen(function*() {
        const error = failure(
          yield* Effect.exit(Effect.scoped(Registry.make({
            circuitBreaker: { instances: { backend: { baseConfig: "unknownConfig" } } },
            retry: { configs: { shared: { baseConfig: "nope" } } }
          })))
        )
        expect(error.issues.map((i) => [i.field, i.value])).toEqual([
          ["circuitBreaker.instances.backend.baseConfig", "unknownConfig"],
          ["retry.configs.shared.baseConfig", "nope"]
        ])
        expect(error.issues[0]!.rule).toBe("names no configuration (known: none)")
      }))

    it.effect("an invalid value in any config or instance fails make, before any guard is requested", () =>
      Effect.gen(function*() {
        const error = failure(
          yield* Effect.exit(Effect.scoped(Registry.make({
            circuitBreaker: {
              configs: { unused: { failureRateThreshold: 0 } },
              instances: { payments: { slidingWindowSize: -1 } }
            },
            timeLimiter: { configs: { default: { timeoutDuration: "-1 seconds" } } }
          })))
        )
        expect(error.issues.map((i) => i.field)).toEqual([
          "circuitBreaker.configs.unused.failureRateThreshold",
          "circuitBreaker.instances.payments.slidingWindowSize",
          "timeLimiter.configs.default.timeoutDuration"
        ])
      }))

    itScoped("reload checks the same way and keeps the last good specification", () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make({ circuitBreaker: { configs: { default: { slidingWindowSize: 9 } } } })
        const breaker = yield* registry.circuitBreaker("kept")
        const exit = yield* Effect.exit(
          registry.reload({ circuitBreaker: { configs: { default: { baseConfig: "default" } } } })
        )
        expect(failure(exit).issues[0]!.field).toBe("circuitBreaker.configs.default.baseConfig")
        expect((yield* CircuitBreaker.configuration(breaker)).slidingWindowSize).toBe(9)
        expect((yield* registry.spec).circuitBreaker?.configs?.default?.slidingWindowSize).toBe(9)
      }))

    it.effect("Registry.config reads baseConfig on configs too (Spring's properties)", () =>
      Effect.gen(function*() {
        const provider = configFromJson({
          resilience4j: {
            circuitBreaker: {
              configs: {
                defaultConfig: { slidingWindowSize: 2000, waitDurationInOpenState: 100 },
                sharedConfig: { baseConfig: "defaultConfig", waitDurationInOpenState: 1000 }
              },
              instances: { instanceWithSharedConfig: { baseConfig: "sharedConfig" } }
            }
          }
        })
        const spec = yield* withConfig(provider)(Registry.config("resilience4j"))
        const config = yield* Effect.scoped(
          Effect.flatMap(
            Registry.make(spec),
            (registry) =>
              Effect.flatMap(registry.circuitBreaker("instanceWithSharedConfig"), CircuitBreaker.configuration)
          )
        )
        expect([config.slidingWindowSize, millis(config.waitDurationInOpenState)]).toEqual([2000, 1000])
      }))
  })
})
