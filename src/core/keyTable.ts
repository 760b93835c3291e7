/**
 * A bounded table of per-key state with least-recently-used eviction of idle keys, after nginx's
 * `limit_req_zone`: when the table is full, a new key takes the place of the key unused the longest,
 * so a flood of distinct keys can never lock a newcomer out. No timer per key: idle expiry is
 * computed from each key's last use, and expired keys are swept a few at a time as keys are used.
 *
 * A key is *pinned* while something holds it (a caller waiting for its permits, a request in flight):
 * a pinned key is never evicted nor expired, since its holder would otherwise be counted against a
 * state that no longer exists. Pinned keys live apart from the LRU order, so finding the eviction
 * victim is O(1) whatever is pinned. When every key is pinned, `entry` answers `undefined`: the
 * caller decides (refuse, shed); nothing is evicted from under a holder.
 *
 * Pure: no Effect, no clock; times are milliseconds passed in.
 *
 * @internal
 */

/** One key's state and bookkeeping. */
export interface Slot<K, V> {
  readonly key: K
  value: V
  /** When the key was last used or released by its last holder. */
  lastUsed: number
  /** Holders; the key is evictable only at 0. */
  pins: number
}

/** Expired keys dropped per use at most, so a use costs O(1) however many keys expired together. */
const SWEEP_PER_USE = 2

export class KeyTable<K, V> {
  /** Unpinned keys, least recently used first (a `Map` iterates in insertion order). */
  private readonly idle = new Map<K, Slot<K, V>>()
  private readonly pinned = new Map<K, Slot<K, V>>()
  /** Keys given a fresh state because the table was full (for metrics and tests). */
  evictions = 0

  constructor(readonly capacity: number, readonly idleMillis: number) {}

  /** Keys with state (pinned or not, expired ones not yet swept included). */
  get size(): number {
    return this.idle.size + this.pinned.size
  }

  /** The keys with state, least recently used first, pinned ones last. */
  keys(): Array<K> {
    return [...this.idle.keys(), ...this.pinned.keys()]
  }

  private expired(slot: Slot<K, V>, now: number): boolean {
    return now - slot.lastUsed >= this.idleMillis
  }

  /** Drops up to `limit` expired keys from the LRU end (all of them with `Infinity`). */
  sweep(now: number, limit = Number.POSITIVE_INFINITY): void {
    let dropped = 0
    for (const slot of this.idle.values()) {
      if (dropped >= limit || !this.expired(slot, now)) return
      this.idle.delete(slot.key)
      dropped++
    }
  }

  /**
   * The key's slot, marked as used now: its state when it has one that has not expired, else a fresh
   * one from `fresh`, in the place of the least recently used idle key when the table is full.
   * `undefined` when the table is full and every key is pinned.
   */
  entry(key: K, now: number, fresh: (now: number) => V): Slot<K, V> | undefined {
    this.sweep(now, SWEEP_PER_USE)
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
      this.idle.set(key, known) // now the most recently used
      return known
    }
    if (this.size >= this.capacity) {
      const oldest = this.idle.keys().next()
      if (oldest.done === true) return undefined
      this.idle.delete(oldest.value)
      this.evictions++
    }
    const slot: Slot<K, V> = { key, value: fresh(now), lastUsed: now, pins: 0 }
    this.idle.set(key, slot)
    return slot
  }

  /** Drops the key's state unless something holds it (a pinned key is left to expire as usual). */
  forget(key: K): void {
    this.idle.delete(key)
  }

  /** Holds the key (it must have come from `entry`): not evicted nor expired until `unpin`. */
  pin(slot: Slot<K, V>): void {
    if (slot.pins++ === 0 && this.idle.get(slot.key) === slot) {
      this.idle.delete(slot.key)
      this.pinned.set(slot.key, slot)
    }
  }

  /** Lets go of the key; when its last holder lets go it becomes the most recently used idle key. */
  unpin(slot: Slot<K, V>, now: number): void {
    if (slot.pins <= 0) return
    if (--slot.pins > 0) return
    slot.lastUsed = now
    if (this.pinned.get(slot.key) === slot) {
      this.pinned.delete(slot.key)
      this.idle.set(slot.key, slot)
    }
  }
}
