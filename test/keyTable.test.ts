/**
 * The LRU key table behind keyed limiters and the inbound middleware: bounded, evicting the least
 * recently used idle key, never a pinned one, expiring idle keys lazily (no timers).
 */
import { describe, expect, it, vi } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { KeyTable } from "../src/core/keyTable.js"

/** Heap per idle key, measured in a node of its own with `--expose-gc` (vitest workers have no `gc`). */
const heapPerKey = (): { readonly keys: number; readonly bytesPerKey: number } =>
  JSON.parse(execFileSync(process.execPath, [
    "--expose-gc",
    "--import",
    "tsx",
    fileURLToPath(new URL("./fixtures/keyTableHeap.ts", import.meta.url))
  ], { encoding: "utf8", timeout: 15_000 }))

const counter = () => {
  let made = 0
  return {
    fresh: () => ++made,
    get made() {
      return made
    }
  }
}

describe("KeyTable", () => {
  it("200,000 distinct keys into 1,000 places: bounded, and each newcomer gets a fresh state", () => {
    const table = new KeyTable<string, { used: number }>(1000, 60_000)
    for (let i = 0; i < 200_000; i++) table.entry(`k${i}`, i / 100, () => ({ used: 0 }))!.value.used++
    expect(table.size).toBe(1000)
    expect(table.evictions).toBe(199_000)
    const newcomer = table.entry("newcomer", 2000, () => ({ used: 0 }))!
    expect(newcomer.value.used).toBe(0)
    expect(table.keys()[0]).toBe("k199001") // the oldest survivor
    // What each idle key costs (50,000 middleware-shaped keys: an `ip:` key, a fixed-window core): the
    // README says ~0.5 KB; 1 KB leaves room for V8's variations, yet a timer or fiber per key would exceed it.
    const heap = heapPerKey()
    expect(heap.keys).toBe(50_000)
    expect(heap.bytesPerKey).toBeGreaterThan(0)
    expect(heap.bytesPerKey).toBeLessThanOrEqual(1024)
  }, 20_000)

  it("forget drops an idle key's state, never a pinned one's", () => {
    const table = new KeyTable<string, number>(10, 1000)
    const { fresh } = counter()
    const a = table.entry("a", 0, fresh)!
    table.entry("b", 0, fresh)
    table.pin(a)
    table.forget("a")
    table.forget("b")
    expect(table.keys()).toEqual(["a"])
    expect(table.entry("b", 1, fresh)!.value).toBe(3) // forgotten: fresh
  })

  it("a use moves a key to the most recently used end; eviction takes the least recently used", () => {
    const table = new KeyTable<string, number>(2, 1000)
    const { fresh } = counter()
    table.entry("a", 0, fresh)
    table.entry("b", 1, fresh)
    expect(table.entry("a", 2, fresh)!.value).toBe(1) // known: same state
    table.entry("c", 3, fresh) // evicts b
    expect(table.keys()).toEqual(["a", "c"])
  })

  it("pinned keys are never evicted nor expired; when all are pinned, no entry", () => {
    const table = new KeyTable<string, number>(2, 10)
    const { fresh } = counter()
    const a = table.entry("a", 0, fresh)!
    const b = table.entry("b", 0, fresh)!
    table.pin(a)
    table.pin(a)
    table.pin(b)
    expect(table.entry("c", 100, fresh)).toBeUndefined()
    expect(table.entry("a", 100, fresh)!.value).toBe(1) // held: not expired though idle for long
    table.unpin(b, 100)
    expect(table.entry("c", 105, fresh)!.value).toBe(3) // b, now idle, made room
    expect(table.keys()).toEqual(["c", "a"])
    table.unpin(a, 106)
    expect(table.keys()).toEqual(["c", "a"]) // one holder left
    table.unpin(a, 107)
    table.unpin(a, 108) // more lets-go than holds: ignored
    expect(table.keys()).toEqual(["c", "a"])
    table.sweep(200)
    expect(table.size).toBe(0)
  })

  it("an expired key gets a fresh state on its next use; expired keys are swept a few per use", () => {
    const table = new KeyTable<string, number>(10, 50)
    const { fresh } = counter()
    for (const key of ["a", "b", "c", "d"]) table.entry(key, 0, fresh)
    expect(table.entry("d", 49, fresh)!.value).toBe(4)
    table.entry("e", 60, fresh) // sweeps a and b (at most two per use)
    expect(table.keys()).toEqual(["c", "d", "e"])
    expect(table.entry("c", 60, fresh)!.value).not.toBe(3) // expired: fresh
    // An expired key the sweep has not reached yet (two at most go per use) is found expired too.
    const later = new KeyTable<string, number>(10, 50)
    const second = counter()
    for (const key of ["a", "b", "c", "d"]) later.entry(key, 0, second.fresh)
    expect(later.entry("d", 100, second.fresh)!.value).toBe(5) // a and b swept, c not yet; d fresh
    expect(later.keys()).toEqual(["c", "d"])
    later.entry("d", 101, second.fresh) // the next use sweeps on where the last one stopped
    expect(later.keys()).toEqual(["d"])
  })

  it("a hot key's use, hold and let-go write no Map, and no use sweeps before a key may have expired", () => {
    // What keeps a client's requests one after another cheap: the same key stays the most recently
    // used through entry, pin and unpin, and the sweep knows when the oldest key can first expire.
    const table = new KeyTable<string, number>(100, 1000)
    const { fresh } = counter()
    for (const key of ["a", "b", "c"]) table.entry(key, 0, fresh)
    const writes = [vi.spyOn(Map.prototype, "set"), vi.spyOn(Map.prototype, "delete")]
    const sweeps = vi.spyOn(Map.prototype, "values")
    try {
      const hot = (from: number, to: number) => {
        for (let t = from; t < to; t++) {
          const slot = table.entry("c", t, fresh)!
          table.pin(slot)
          table.unpin(slot, t)
        }
      }
      hot(1, 1000)
      for (const spy of [...writes, sweeps]) expect(spy).not.toHaveBeenCalled()
      table.entry("c", 1000, fresh) // a and b may have expired (and have): swept
      expect(sweeps).toHaveBeenCalledTimes(1)
      expect(table.keys()).toEqual(["c"])
      sweeps.mockClear()
      hot(1001, 1999) // c, last used at 1000, expires at 2000 at the earliest
      expect(sweeps).not.toHaveBeenCalled()
    } finally {
      for (const spy of [...writes, sweeps]) spy.mockRestore()
    }
  })
})
