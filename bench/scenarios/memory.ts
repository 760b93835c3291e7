/**
 * Scale: heap bytes per keyed breaker, and per time-window breaker as its window grows. Needs
 * `node --expose-gc` (npm run bench passes it); without it the figures read as unavailable.
 *
 * "Keyed" here is first a `Map<string, CircuitBreaker>` of breakers made with `CircuitBreaker.make` in
 * one scope: the figure includes the map entry, the key, the breaker, its event hub and its scope
 * finalizer; then the keyed API, `CircuitBreaker.keyed`, per key (its table entry, the key's scope and
 * breaker).
 */
import { circuitBreaker, ConsecutiveBreaker, CountBreaker, handleAll } from "cockatiel"
import { Effect, Exit, Scope } from "effect"
import { Effect as Effect4, Exit as Exit4, Scope as Scope4 } from "effect4"
import { CircuitBreaker as CircuitBreaker4 } from "effect4/persistence"
import { CircuitBreaker } from "../../src/index.js"

export interface MemoryRow {
  readonly name: string
  readonly count: number
  /** NaN without `--expose-gc`. */
  readonly bytesEach: number
}

const gc = (globalThis as { gc?: () => void }).gc

const heapUsed = (): number => {
  if (gc === undefined) return Number.NaN
  gc()
  gc()
  const usage = process.memoryUsage()
  // Typed arrays (the windows' rings) keep their contents outside the JS heap, in `arrayBuffers`.
  return usage.heapUsed + usage.arrayBuffers
}

const call = Effect.succeed(1)

/**
 * Measures the heap a stage adds, per item. What `run` returns stays reachable until measured, then is
 * dropped here (returning it would leave it in the caller's frame, skewing the next stage).
 */
const stage = async (name: string, count: number, run: () => unknown): Promise<MemoryRow> => {
  const before = heapUsed()
  const kept = await run()
  const after = heapUsed()
  if (kept === before) console.error("(unreachable: keeps what was built alive until measured)")
  return { name, count, bytesEach: (after - before) / count }
}

const makeBreakers = (
  scope: Scope.Scope,
  count: number,
  options: Omit<CircuitBreaker.Options, "name">,
  breakers = new Map<string, CircuitBreaker.CircuitBreaker>()
) =>
  Effect.runSync(Effect.gen(function*() {
    for (let i = breakers.size, end = breakers.size + count; i < end; i++) {
      const key = `tenant-${i}`
      breakers.set(key, yield* Scope.extend(CircuitBreaker.make({ ...options, name: key }), scope))
    }
    return breakers
  }))

/** Above this much heap for the keyed breakers, stop adding keys (a heavy breaker must not crash the run). */
const HEAP_BUDGET = 1.5 * 2 ** 30

/**
 * Builds up to `count` keyed breakers in chunks, stopping early if they would take more than
 * HEAP_BUDGET: then the figure is per breaker actually built, and the row says how many.
 */
const makeKeyed = (scope: Scope.Scope, count: number, options: Omit<CircuitBreaker.Options, "name">) => {
  const breakers = new Map<string, CircuitBreaker.CircuitBreaker>()
  const start = process.memoryUsage().heapUsed
  const chunk = Math.max(1, Math.min(10_000, count))
  while (breakers.size < count) {
    makeBreakers(scope, Math.min(chunk, count - breakers.size), options, breakers)
    const each = (process.memoryUsage().heapUsed - start) / breakers.size
    if (breakers.size < count && each * count > HEAP_BUDGET) break
  }
  return breakers
}

const callEach = (breakers: Map<string, CircuitBreaker.CircuitBreaker>, calls: number) =>
  Effect.runSync(Effect.gen(function*() {
    for (const breaker of breakers.values()) {
      for (let i = 0; i < calls; i++) yield* CircuitBreaker.withCircuitBreaker(call, breaker)
    }
  }))

export const runMemory = async (
  options: { readonly keys: number; readonly windows: ReadonlyArray<number>; readonly perWindow: number }
): Promise<{ keyed: Array<MemoryRow>; timeWindows: Array<MemoryRow>; peers: Array<MemoryRow> }> => {
  const keyed: Array<MemoryRow> = []
  const count = options.keys
  const countWindow = { slidingWindowSize: 100, minimumNumberOfCalls: 100 }

  const scope = Effect.runSync(Scope.make())
  const before = heapUsed()
  const map = makeKeyed(scope, count, countWindow)
  const built = map.size
  const capped = built < count
    ? ` (stopped at ${built.toLocaleString("en-US")} of ${count.toLocaleString("en-US")}: heap budget)`
    : ""
  keyed.push({
    name: `idle keyed breaker, count window 100, never called${capped}`,
    count: built,
    bytesEach: (heapUsed() - before) / built
  })
  keyed.push(await stage("… after 1 call each (window arrays allocated)", built, () => callEach(map, 1)))
  // 100 calls on each of 100,000 breakers takes long: the volume stages use the first 10,000.
  const sample = new Map([...map].slice(0, 10_000))
  keyed.push(await stage("… after 100 more calls each (window full)", sample.size, () => callEach(sample, 100)))
  keyed.push(
    await stage("… after 100 more calls each (volume independence)", sample.size, () => callEach(sample, 100))
  )
  keyed.push({
    name: "idle keyed breaker, count window 100, in use (total)",
    count: built,
    bytesEach: keyed.slice(0, 3).reduce((sum, row) => sum + row.bytesEach, 0)
  })
  map.clear()
  await Effect.runPromise(Scope.close(scope, Exit.void))

  // The keyed API (`CircuitBreaker.keyed`): a key's breaker is made on its first call, from options
  // decoded once for all keys, in a scope of its own; idle after that call.
  const keyedScope = Effect.runSync(Scope.make())
  const perKey = Effect.runSync(Scope.extend(
    CircuitBreaker.keyed({ name: "tenant", ...countWindow, maxKeys: Math.max(1, count) }),
    keyedScope
  ))
  const keyNames = Array.from({ length: count }, (_, i) => `tenant-${i}`)
  const callKeys = (keys: ReadonlyArray<string>, calls: number) =>
    Effect.runSync(Effect.gen(function*() {
      for (const key of keys) {
        const guard = perKey.withCircuitBreaker(key)
        for (let i = 0; i < calls; i++) yield* guard(call)
      }
      return perKey
    }))
  const firstUse = await stage(
    "CircuitBreaker.keyed, per key after its first call (count window 100)",
    count,
    () => callKeys(keyNames, 1)
  )
  keyed.push(firstUse)
  const fuller = await stage(
    "… after 100 more calls each (window full)",
    Math.min(count, 10_000),
    () => callKeys(keyNames.slice(0, 10_000), 100)
  )
  keyed.push(fuller)
  keyed.push({
    name: "CircuitBreaker.keyed, per key, in use (total)",
    count,
    bytesEach: firstUse.bytesEach + fuller.bytesEach
  })
  await Effect.runPromise(Scope.close(keyedScope, Exit.void))

  const timeWindows: Array<MemoryRow> = []
  for (const seconds of options.windows) {
    const windowScope = Effect.runSync(Scope.make())
    const row = await stage(
      `time-window breaker, ${seconds} s window, after 1 call`,
      options.perWindow,
      () => {
        const made = makeBreakers(windowScope, options.perWindow, {
          slidingWindowType: "TIME_BASED",
          slidingWindowSize: seconds,
          minimumNumberOfCalls: 100
        })
        callEach(made, 1)
        return made
      }
    )
    timeWindows.push(row)
    await Effect.runPromise(Scope.close(windowScope, Exit.void))
  }

  const peers: Array<MemoryRow> = []
  const cockatielRow = await stage("cockatiel CountBreaker(100) policy, after 1 call", count, async () => {
    const policies = new Map<string, ReturnType<typeof circuitBreaker>>()
    for (let i = 0; i < count; i++) {
      const policy = circuitBreaker(handleAll, {
        halfOpenAfter: 60_000,
        breaker: new CountBreaker({ threshold: 0.5, size: 100, minimumNumberOfCalls: 100 })
      })
      policies.set(`tenant-${i}`, policy)
      await policy.execute(() => 1)
    }
    return policies
  })
  peers.push(cockatielRow)
  const consecutiveRow = await stage("cockatiel ConsecutiveBreaker policy, after 1 call", count, async () => {
    const policies = new Map<string, ReturnType<typeof circuitBreaker>>()
    for (let i = 0; i < count; i++) {
      const policy = circuitBreaker(handleAll, { halfOpenAfter: 60_000, breaker: new ConsecutiveBreaker(5) })
      policies.set(`tenant-${i}`, policy)
      await policy.execute(() => 1)
    }
    return policies
  })
  peers.push(consecutiveRow)

  const scope4 = Effect4.runSync(Scope4.make())
  const breaker4 = Effect4.runSync(
    CircuitBreaker4.make({ tripPolicy: CircuitBreaker4.rate({ threshold: 0.5, size: 100 }), openDuration: "1 minute" })
      .pipe(Effect4.provide(CircuitBreaker4.layerStoreMemory()), Scope4.provide(scope4))
  )
  const effect4Row = await stage(
    "Effect 4 CircuitBreaker rate(100), memory store, per key after 1 call",
    count,
    () =>
      Effect4.runSync(Effect4.gen(function*() {
        for (let i = 0; i < count; i++) yield* breaker4.execute(Effect4.succeed(1), { key: `tenant-${i}` })
      }))
  )
  peers.push(effect4Row)
  await Effect4.runPromise(Scope4.close(scope4, Exit4.void))

  return { keyed, timeWindows, peers }
}
