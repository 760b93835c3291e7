/**
 * The in-memory {@link CircuitBreakerStore}: the same operations as the Redis store, on the pure state
 * machine of `src/core/circuitMachine.ts`, with Effect's `Clock` as its time. A shared breaker uses
 * it as its local fallback while its store is down, and the store contract tests run against it and
 * Redis alike.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import {
  CircuitMachine,
  Failure,
  Ignored,
  type MachineConfig,
  Refused,
  type StateName,
  Success,
  Trial
} from "../../core/circuitMachine.js"
import type {
  CallOutcome,
  CircuitBreakerStore,
  CircuitChange,
  CircuitReply,
  CircuitSettings,
  CircuitSnapshot
} from "../CircuitBreakerStore.js"

interface Entry {
  readonly machine: CircuitMachine
  settingsKey: string
  /** Trial permits out, by lease id, with their expiry. */
  readonly leases: Map<string, number>
  halfOpenUntil: number
  sequence: number
  /** The generation last told to listeners: a new Open period changes it without a transition. */
  toldGeneration: number
  readonly listeners: Set<() => void>
  /** The latest changes, for `follow`. */
  readonly log: Array<CircuitChange>
}

const machineConfig = (s: CircuitSettings): MachineConfig => {
  const waits = s.waitsInOpenMillis
  return {
    failureRateThreshold: s.failureRateThreshold,
    slowCallRateThreshold: s.slowCallRateThreshold,
    slowCallDurationThresholdMillis: s.slowCallDurationThresholdMillis,
    slidingWindowType: s.slidingWindowType,
    slidingWindowSize: s.slidingWindowSize,
    minimumNumberOfCalls: s.minimumNumberOfCalls,
    permittedNumberOfCallsInHalfOpenState: s.permittedNumberOfCallsInHalfOpenState,
    waitInOpenMillis: (attempts) => waits[Math.min(attempts, waits.length) - 1] ?? 60_000
  }
}

const outcomes: Record<CallOutcome, typeof Success | typeof Failure | typeof Ignored> = {
  Success,
  Failure,
  Ignored
}

/**
 * Makes an in-memory circuit breaker store; its breakers are shared by everything in this process that
 * uses this store value.
 *
 * @internal
 */
export const makeMemoryCircuitBreakerStore: Effect.Effect<CircuitBreakerStore> = Effect.sync(() => {
  const entries = new Map<string, Entry>()

  const entryOf = (name: string, settings: CircuitSettings): Entry => {
    // In process there is one configuration: taking over changes nothing.
    const { takeOver: _, ...shaping } = settings
    const key = JSON.stringify(shaping)
    let entry = entries.get(name)
    if (entry === undefined) {
      entry = {
        machine: new CircuitMachine(machineConfig(settings)),
        settingsKey: key,
        leases: new Map(),
        halfOpenUntil: -1,
        sequence: 0,
        toldGeneration: 0,
        listeners: new Set(),
        log: []
      }
      entries.set(name, entry)
    } else if (entry.settingsKey !== key) {
      entry.settingsKey = key
      entry.machine.reconfigure(machineConfig(settings))
    }
    return entry
  }

  /** Turns the machine's notices into changes, noting what entering a state starts. */
  const drain = (entry: Entry, settings: CircuitSettings, now: number, changes: Array<CircuitChange>) => {
    for (const notice of entry.machine.drain()) {
      const sequence = ++entry.sequence
      switch (notice._tag) {
        case "StateTransition":
          if (notice.to !== "HalfOpen") entry.leases.clear()
          else {
            entry.leases.clear()
            entry.halfOpenUntil = settings.maxWaitInHalfOpenMillis > 0 ? now + settings.maxWaitInHalfOpenMillis : -1
          }
          if (!notice.internal) changes.push({ _tag: "Transition", from: notice.from, to: notice.to, sequence })
          break
        case "FailureRateExceeded":
        case "SlowCallRateExceeded":
          changes.push({ _tag: notice._tag, rate: notice.rate, sequence })
      }
    }
  }

  /** The transitions that are due by time alone. */
  const advance = (entry: Entry, settings: CircuitSettings, now: number, changes: Array<CircuitChange>) => {
    const machine = entry.machine
    if (
      machine.state === "Open" && settings.automaticTransitionFromOpenToHalfOpenEnabled &&
      now >= machine.openUntilMillis
    ) {
      machine.transitionTo("HalfOpen", now)
      drain(entry, settings, now, changes)
    }
    if (machine.state === "HalfOpen" && entry.halfOpenUntil >= 0 && now >= entry.halfOpenUntil) {
      machine.transitionTo(settings.transitionToStateAfterWaitDuration, now)
      drain(entry, settings, now, changes)
    }
    if (machine.state === "HalfOpen") {
      for (const [id, expiry] of entry.leases) {
        if (expiry <= now) {
          entry.leases.delete(id)
          machine.halfOpenPermits++
        }
      }
    }
  }

  const snapshot = (entry: Entry, now: number): CircuitSnapshot => {
    const machine = entry.machine
    const window = machine.window
    window.roll(now)
    return {
      state: machine.state,
      generation: machine.generation,
      attempts: machine.attempts,
      openForMillis: machine.state === "Open" ? Math.max(0, machine.openUntilMillis - now) : -1,
      halfOpenForMillis: machine.state === "HalfOpen" && entry.halfOpenUntil >= 0
        ? Math.max(0, entry.halfOpenUntil - now)
        : -1,
      calls: window.calls,
      failed: window.failed,
      slow: window.slow,
      slowFailed: window.slowFailed,
      totalDurationMillis: window.totalDurationMillis,
      minimumNumberOfCalls: window.minimumNumberOfCalls,
      leases: entry.leases.size,
      notPermitted: machine.numberOfNotPermittedCalls,
      sequence: entry.sequence,
      // In process the state is never lost, and this instance's settings are the only ones.
      incarnation: 0,
      settingsConflict: false
    }
  }

  const reply = (entry: Entry, now: number, changes: ReadonlyArray<CircuitChange>): CircuitReply => {
    const result = { snapshot: snapshot(entry, now), changes }
    if (changes.length > 0) {
      entry.log.push(...changes)
      if (entry.log.length > LOG_SIZE) entry.log.splice(0, entry.log.length - LOG_SIZE)
    }
    if (changes.length > 0 || entry.toldGeneration !== result.snapshot.generation) {
      entry.toldGeneration = result.snapshot.generation
      for (const listener of entry.listeners) listener()
    }
    return result
  }

  const withEntry = <A>(
    name: string,
    settings: CircuitSettings,
    f: (entry: Entry, now: number, changes: Array<CircuitChange>) => A
  ): Effect.Effect<A> =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const entry = entryOf(name, settings)
      const changes: Array<CircuitChange> = []
      advance(entry, settings, now, changes)
      return f(entry, now, changes)
    })

  const store: CircuitBreakerStore = {
    read: (name, settings) => withEntry(name, settings, (entry, now, changes) => reply(entry, now, changes).snapshot),
    follow: (name, settings, since) =>
      withEntry(name, settings, (entry, now, changes) => {
        const snapshot = reply(entry, now, changes).snapshot
        return {
          snapshot,
          changes: since.incarnation === snapshot.incarnation
            ? entry.log.filter((change) => change.sequence > since.sequence)
            : []
        }
      }),
    acquire: (name, settings, leaseId) =>
      withEntry(name, settings, (entry, now, changes) => {
        const admission = entry.machine.acquire(now)
        drain(entry, settings, now, changes)
        if (admission === Trial) entry.leases.set(leaseId, now + settings.leaseMillis)
        return {
          ...reply(entry, now, changes),
          admission: admission === Refused
            ? "Refused" as const
            : admission === Trial
            ? "Trial" as const
            : "Permitted" as const
        }
      }),
    renew: (name, settings, leaseId) =>
      withEntry(name, settings, (entry, now, changes) => {
        if (entry.machine.state === "HalfOpen" && entry.leases.has(leaseId)) {
          entry.leases.set(leaseId, now + settings.leaseMillis)
        }
        return reply(entry, now, changes)
      }),
    record: (name, settings, call) =>
      withEntry(name, settings, (entry, now, changes) => {
        const machine = entry.machine
        const leased = call.leaseId !== undefined && entry.leases.delete(call.leaseId)
        // A trial slower than its lease still counts in its HalfOpen period (the machine drops results of
        // an ended generation); the lease only frees the permit of a holder that died. An expired lease's
        // permit was given back already, so an ignored late trial gives nothing back.
        const late = call.leaseId !== undefined && call.outcome !== "Ignored"
        if (machine.state !== "HalfOpen" || leased || late) {
          machine.onResult(call.generation, now, call.durationMillis, outcomes[call.outcome])
          drain(entry, settings, now, changes)
        }
        return reply(entry, now, changes)
      }),
    transition: (name, settings, to: StateName, openForMillis) =>
      withEntry(name, settings, (entry, now, changes) => {
        const permitted = entry.machine.transitionTo(
          to,
          now,
          openForMillis === undefined ? undefined : now + openForMillis
        )
        drain(entry, settings, now, changes)
        return { ...reply(entry, now, changes), permitted }
      }),
    reset: (name, settings) =>
      withEntry(name, settings, (entry, now, changes) => {
        entry.machine.reset(now)
        entry.leases.clear()
        drain(entry, settings, now, changes)
        changes.push({ _tag: "Reset", sequence: ++entry.sequence })
        return reply(entry, now, changes)
      }),
    subscribe: (name, onChange) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          let entry = entries.get(name)
          if (entry === undefined) {
            // Subscribed before any operation: the entry is created with the first settings used.
            entry = {
              machine: new CircuitMachine(machineConfig(placeholderSettings)),
              settingsKey: "",
              leases: new Map(),
              halfOpenUntil: -1,
              sequence: 0,
              toldGeneration: 0,
              listeners: new Set(),
              log: []
            }
            entries.set(name, entry)
          }
          entry.listeners.add(onChange)
          return entry
        }),
        (entry) => Effect.sync(() => entry.listeners.delete(onChange))
      ).pipe(Effect.asVoid)
  }
  return store
})

/** How many of the latest changes `follow` can return (as the Redis store keeps). */
const LOG_SIZE = 32

const placeholderSettings: CircuitSettings = {
  failureRateThreshold: 50,
  slowCallRateThreshold: 100,
  slowCallDurationThresholdMillis: 60_000,
  slidingWindowType: "COUNT_BASED",
  slidingWindowSize: 100,
  minimumNumberOfCalls: 100,
  permittedNumberOfCallsInHalfOpenState: 10,
  waitsInOpenMillis: [60_000],
  automaticTransitionFromOpenToHalfOpenEnabled: false,
  maxWaitInHalfOpenMillis: 0,
  transitionToStateAfterWaitDuration: "Open",
  leaseMillis: 60_000,
  ttlMillis: 3_600_000
}
