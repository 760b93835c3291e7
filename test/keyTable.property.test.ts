import { FastCheck } from "#test-port"
/**
 * The key table against a plain model of its rules (the table as it was before pinning became lazy:
 * pinned keys moved out of the LRU order at once, every use sweeping): the same answers, states, size,
 * evictions and LRU order of unpinned keys under random uses, pins, lets-go, forgets and sweeps, with
 * time that only moves forward (as every clock it is given does).
 */
import { describe, expect, it } from "vitest"
import { KeyTable, type Slot } from "../src/core/keyTable.js"

class ModelTable<K, V> {
  readonly idle = new Map<K, Slot<K, V>>()
  readonly pinned = new Map<K, Slot<K, V>>()
  evictions = 0
  constructor(readonly capacity: number, readonly idleMillis: number) {}
  get size() {
    return this.idle.size + this.pinned.size
  }
  expired(slot: Slot<K, V>, now: number) {
    return now - slot.lastUsed >= this.idleMillis
  }
  sweep(now: number, limit = Number.POSITIVE_INFINITY) {
    let dropped = 0
    for (const slot of [...this.idle.values()]) {
      if (dropped >= limit || !this.expired(slot, now)) return
      this.idle.delete(slot.key)
      dropped++
    }
  }
  entry(key: K, now: number, fresh: (now: number) => V): Slot<K, V> | undefined {
    this.sweep(now, 2)
    const held = this.pinned.get(key)
    if (held !== undefined) {
      held.lastUsed = now
      return held
    }
    const known = this.idle.get(key)
    if (known !== undefined) {
      this.idle.delete(key)
      if (this.expired(known, now)) known.value = fresh(now)
      known.lastUsed = now
      this.idle.set(key, known)
      return known
    }
    if (this.size >= this.capacity) {
      const oldest = this.idle.keys().next()
      if (oldest.done === true) return undefined
      this.idle.delete(oldest.value)
      this.evictions++
    }
    const slot = { key, value: fresh(now), lastUsed: now, pins: 0 }
    this.idle.set(key, slot)
    return slot
  }
  forget(key: K) {
    this.idle.delete(key)
  }
  pin(slot: Slot<K, V>) {
    if (slot.pins++ === 0 && this.idle.get(slot.key) === slot) {
      this.idle.delete(slot.key)
      this.pinned.set(slot.key, slot)
    }
  }
  unpin(slot: Slot<K, V>, now: number) {
    if (slot.pins <= 0) return
    if (--slot.pins > 0) return
    slot.lastUsed = now
    if (this.pinned.get(slot.key) === slot) {
      this.pinned.delete(slot.key)
      this.idle.set(slot.key, slot)
    }
  }
}

type Command =
  | { readonly _tag: "Entry"; readonly key: number; readonly step: number; readonly pin: boolean }
  | { readonly _tag: "Unpin"; readonly which: number; readonly step: number }
  // A hold taken on a slot got earlier, which may since have been evicted or forgotten (a request's
  // pin comes a step after its `entry`), or a let-go of a slot nobody holds: both must leave the table
  // as the model leaves it.
  | { readonly _tag: "LateHold"; readonly which: number }
  | { readonly _tag: "StrayUnpin"; readonly which: number; readonly step: number }
  | { readonly _tag: "Forget"; readonly key: number }
  | { readonly _tag: "Sweep"; readonly step: number; readonly all: boolean }

const step = FastCheck.oneof(FastCheck.constant(0), FastCheck.integer({ min: 0, max: 40 }))
const key = FastCheck.integer({ min: 0, max: 9 })
const commandArb: FastCheck.Arbitrary<Command> = FastCheck.oneof(
  {
    weight: 6,
    arbitrary: FastCheck.record({ _tag: FastCheck.constant("Entry" as const), key, step, pin: FastCheck.boolean() })
  },
  {
    weight: 3,
    arbitrary: FastCheck.record({ _tag: FastCheck.constant("Unpin" as const), which: FastCheck.nat(), step })
  },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("LateHold" as const), which: FastCheck.nat() }) },
  {
    weight: 1,
    arbitrary: FastCheck.record({ _tag: FastCheck.constant("StrayUnpin" as const), which: FastCheck.nat(), step })
  },
  { weight: 1, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Forget" as const), key }) },
  {
    weight: 1,
    arbitrary: FastCheck.record({ _tag: FastCheck.constant("Sweep" as const), step, all: FastCheck.boolean() })
  }
)

describe("KeyTable against its model", () => {
  it("same answers, states, size, evictions and LRU order", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.integer({ min: 1, max: 6 }),
        FastCheck.integer({ min: 1, max: 60 }),
        FastCheck.array(commandArb, { maxLength: 120 }),
        (capacity, idleMillis, commands) => {
          const table = new KeyTable<number, number>(capacity, idleMillis)
          const model = new ModelTable<number, number>(capacity, idleMillis)
          let made = 0
          const fresh = () => ++made
          // Holds taken, as pairs of the table's slot and the model's, so that each lets go of its own.
          const holds: Array<readonly [Slot<number, number>, Slot<number, number>]> = []
          // Every slot pair got from `entry`, held or not.
          const got: Array<readonly [Slot<number, number>, Slot<number, number>]> = []
          let now = 0
          for (const command of commands) {
            if (command._tag === "Entry") {
              now += command.step
              const before = made
              const ours = table.entry(command.key, now, fresh)
              const freshInTable = made - before
              made = before
              const expected = model.entry(command.key, now, fresh)
              expect(made - before).toBe(freshInTable)
              expect(ours === undefined).toBe(expected === undefined)
              if (ours !== undefined && expected !== undefined) {
                expect(ours.value).toBe(expected.value)
                got.push([ours, expected])
                if (command.pin) {
                  table.pin(ours)
                  model.pin(expected)
                  holds.push([ours, expected])
                }
              }
            } else if (command._tag === "Unpin") {
              now += command.step
              if (holds.length > 0) {
                const [ours, theirs] = holds.splice(command.which % holds.length, 1)[0]!
                table.unpin(ours, now)
                model.unpin(theirs, now)
              }
            } else if (command._tag === "LateHold") {
              if (got.length > 0) {
                const pair = got[command.which % got.length]!
                table.pin(pair[0])
                model.pin(pair[1])
                holds.push(pair)
              }
            } else if (command._tag === "StrayUnpin") {
              now += command.step
              const idle = got.filter(([, theirs]) => theirs.pins === 0)
              if (idle.length > 0) {
                const [ours, theirs] = idle[command.which % idle.length]!
                table.unpin(ours, now)
                model.unpin(theirs, now)
              }
            } else if (command._tag === "Forget") {
              table.forget(command.key)
              model.forget(command.key)
            } else {
              now += command.step
              if (command.all) {
                table.sweep(now)
                model.sweep(now)
              } else {
                table.sweep(now, 2)
                model.sweep(now, 2)
              }
            }
            expect(table.size).toBe(model.size)
            expect(table.evictions).toBe(model.evictions)
            const pinnedKeys = [...model.pinned.keys()]
            const keys = table.keys()
            expect(keys.slice(0, model.idle.size)).toEqual([...model.idle.keys()])
            expect([...keys.slice(model.idle.size)].sort()).toEqual(pinnedKeys.sort())
          }
        }
      ),
      { numRuns: 2000 }
    )
  })
})
