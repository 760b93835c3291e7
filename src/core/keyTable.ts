/**
 * A bounded table of per-key state with least-recently-used eviction of idle keys, after nginx's
 * `limit_req_zone`: when the table is full, a new key takes the place of the key unused the longest,
 * so a flood of distinct keys can never lock a newcomer out. No timer per key: idle expiry is
 * computed from each key's last use, and expired keys are swept a few at a time as keys are used.
 *
 * A key is *pinned* while something holds it (a caller waiting for its permits, a request in flight):
 * a pinned key is never evicted nor expired, since its holder would otherwise be counted against a
 * state that no longer exists. Pinned keys are set apart from the LRU order lazily: pinning only counts
 * the holder, and the eviction or the sweep that comes upon a pinned key in the LRU order moves it
 * aside (once per pinning), so finding the eviction victim stays amortised O(1) whatever is pinned.
 * This keeps the common case — one client's requests one after another, or a hot key — free of `Map`
 * writes: its key stays where it is, the most recently used, through `entry`, `pin` and `unpin`
 * (each write to a `Map` that also deletes makes V8 rehash it now and then: garbage on every request).
 * When every key is pinned, `entry` answers `undefined`: the caller decides (refuse, shed); nothing is
 * evicted from under a holder.
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
  /**
   * Keys in least-recently-used order (a `Map` iterates in insertion order): every unpinned key, and
   * the pinned keys no eviction or sweep has come upon yet.
   */
  private readonly lru = new Map<K, Slot<K, V>>()
  /** Pinned keys moved out of the LRU order; back at its most recently used end when let go. */
  private readonly aside = new Map<K, Slot<K, V>>()
  /** The slot last put at the LRU order's end (while it is in `lru`, nothing is after it). */
  private mru: Slot<K, V> | undefined
  /**
   * No key in the LRU order expires before this (a lower bound): until then a use needs no sweep, and
   * makes no iterator. The order is that of last uses, so the key a sweep stopped at bounds the rest;
   * every key put in the order lowers it. (Should the clock go back, expired keys may wait for a later
   * sweep; a use still finds them expired.)
   */
  private sweepAfter = Number.POSITIVE_INFINITY
  /** Keys given a fresh state because the table was full (for metrics and tests). */
  evictions = 0

  constructor(readonly capacity: number, readonly idleMillis: number) {}

  /** Keys with state (pinned or not, expired ones not yet swept included). */
  get size(): number {
    return this.lru.size + this.aside.size
  }

  /** The keys with state: the unpinned ones least recently used first, then the pinned ones. */
  keys(): Array<K> {
    const unpinned: Array<K> = []
    const pinned: Array<K> = []
    for (const slot of this.lru.values()) (slot.pins > 0 ? pinned : unpinned).push(slot.key)
    return [...unpinned, ...pinned, ...this.aside.keys()]
  }

  private expired(slot: Slot<K, V>, now: number): boolean {
    return now - slot.lastUsed >= this.idleMillis
  }

  /** Puts `slot` at the LRU order's most recently used end. */
  private append(slot: Slot<K, V>): void {
    this.lru.set(slot.key, slot)
    this.mru = slot
    const expiry = slot.lastUsed + this.idleMillis
    if (expiry < this.sweepAfter) this.sweepAfter = expiry
  }

  /** Moves a pinned key met in the LRU order aside. */
  private setAside(slot: Slot<K, V>): void {
    this.lru.delete(slot.key)
    this.aside.set(slot.key, slot)
  }

  /**
   * Drops up to `limit` expired keys from the LRU end (all of them with `Infinity`), setting aside the
   * pinned keys it meets on the way (not counted: each is met once per pinning).
   */
  sweep(now: number, limit = Number.POSITIVE_INFINITY): void {
    if (now < this.sweepAfter) return
    let dropped = 0
    for (const slot of this.lru.values()) {
      if (slot.pins > 0) {
        this.setAside(slot)
      } else if (!this.expired(slot, now)) {
        this.sweepAfter = slot.lastUsed + this.idleMillis
        return
      } else if (dropped >= limit) {
        return
      } else {
        this.lru.delete(slot.key)
        dropped++
      }
    }
    this.sweepAfter = Number.POSITIVE_INFINITY
  }

  /**
   * The key's slot, marked as used now: its state when it has one that has not expired, else a fresh
   * one from `fresh`, in the place of the least recently used unpinned key when the table is full.
   * `undefined` when the table is full and every key is pinned.
   */
  entry(key: K, now: number, fresh: (now: number) => V): Slot<K, V> | undefined {
    this.sweep(now, SWEEP_PER_USE)
    const known = this.lru.get(key) ?? this.aside.get(key)
    if (known !== undefined) {
      if (known.pins > 0) {
        // Held: never expired, and the LRU order does not matter until it is let go.
        known.lastUsed = now
        return known
      }
      if (this.expired(known, now)) known.value = fresh(now)
      known.lastUsed = now
      if (known !== this.mru) {
        this.lru.delete(key)
        this.append(known) // now the most recently used
      }
      return known
    }
    if (this.size >= this.capacity && !this.evictOne()) return undefined
    const slot: Slot<K, V> = { key, value: fresh(now), lastUsed: now, pins: 0 }
    this.append(slot)
    return slot
  }

  /** Drops the least recently used unpinned key; `false` when every key is pinned. */
  private evictOne(): boolean {
    for (const slot of this.lru.values()) {
      if (slot.pins > 0) {
        this.setAside(slot)
        continue
      }
      this.lru.delete(slot.key)
      this.evictions++
      return true
    }
    return false
  }

  /** Drops the key's state unless something holds it (a pinned key is left to expire as usual). */
  forget(key: K): void {
    const slot = this.lru.get(key)
    if (slot !== undefined && slot.pins === 0) this.lru.delete(key)
  }

  /** Holds the key (it must have come from `entry`): not evicted nor expired until `unpin`. */
  pin(slot: Slot<K, V>): void {
    slot.pins++
  }

  /** Lets go of the key; when its last holder lets go it becomes the most recently used unpinned key. */
  unpin(slot: Slot<K, V>, now: number): void {
    if (slot.pins <= 0) return
    if (--slot.pins > 0) return
    slot.lastUsed = now
    if (this.aside.get(slot.key) === slot) {
      this.aside.delete(slot.key)
      this.append(slot)
    } else if (slot !== this.mru && this.lru.get(slot.key) === slot) {
      this.lru.delete(slot.key)
      this.append(slot)
    }
  }
}
