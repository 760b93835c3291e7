/**
 * A bounded table of per-key values with idle expiry and least-recently-used eviction, for the keyed
 * circuit breaker. Pure: time is an argument, and the values it drops are returned for the shell to
 * close.
 *
 * A `Map` keeps its entries in insertion order, so moving a used entry to the end keeps them ordered
 * by last use: expiry looks only at the head, and a sweep stops at the first entry still fresh, so no
 * key needs a timer of its own. An entry the shell says is pinned (a call in flight, an Open circuit
 * still refusing) is never dropped: met at the head, it is moved to the end as if just used.
 *
 * @internal
 */

interface Entry<V> {
  readonly value: V
  lastUsedMillis: number
  inFlight: number
}

/** How many pinned entries one eviction may step over before giving up (bounds the work per call). */
export const MAX_PINNED_SKIPPED = 64

/** @internal */
export class KeyedTable<V> {
  private readonly entries = new Map<string, Entry<V>>()
  /** Keys dropped so far, idle or evicted to make room. */
  evicted = 0
  /**
   * The key last moved to the end (the most recently used, unless dropped since): using it again
   * needs no move. A move leaves a deleted entry in the `Map` until it rehashes, so moving on every
   * call of a busy key would grow the table and cost time for nothing.
   */
  private newest: string | undefined

  constructor(
    readonly maxKeys: number,
    readonly idleMillis: number,
    private readonly pinned: (value: V, nowMillis: number) => boolean
  ) {}

  get size(): number {
    return this.entries.size
  }

  keys(): Array<string> {
    return Array.from(this.entries.keys())
  }

  values(): Array<V> {
    return Array.from(this.entries.values(), (entry) => entry.value)
  }

  /** The key's value, marked as used now; undefined when the key has none. */
  use(key: string, nowMillis: number): V | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    if (key !== this.newest) this.moveToEnd(key, entry)
    entry.lastUsedMillis = nowMillis
    return entry.value
  }

  /** A call through the key's value starts (pins it) or ends. */
  enter(key: string): void {
    const entry = this.entries.get(key)
    if (entry !== undefined) entry.inFlight++
  }

  leave(key: string, value: V, nowMillis: number): void {
    const entry = this.entries.get(key)
    // The entry may have been replaced since (it cannot have been dropped while a call was in flight).
    if (entry !== undefined && entry.value === value) {
      entry.inFlight = Math.max(0, entry.inFlight - 1)
      entry.lastUsedMillis = nowMillis
    }
  }

  /** Drops the entries idle for `idleMillis` that are not pinned. */
  sweep(nowMillis: number): Array<V> {
    const dropped: Array<V> = []
    let skipped = 0
    for (const [key, entry] of this.entries) {
      if (nowMillis - entry.lastUsedMillis < this.idleMillis || skipped >= MAX_PINNED_SKIPPED) break
      if (this.isPinned(entry, nowMillis)) {
        entry.lastUsedMillis = nowMillis
        this.moveToEnd(key, entry)
        skipped++
      } else {
        this.remove(key)
        dropped.push(entry.value)
        this.evicted++
      }
    }
    return dropped
  }

  /**
   * Makes room for one more key: drops the idle entries, then, if the table is still full, the least
   * recently used entry that is not pinned. Returns what was dropped, and whether there is room now
   * (false when every entry looked at is pinned).
   */
  makeRoom(nowMillis: number): { readonly dropped: Array<V>; readonly room: boolean } {
    const dropped = this.sweep(nowMillis)
    if (this.entries.size < this.maxKeys) return { dropped, room: true }
    let looked = 0
    for (const [key, entry] of this.entries) {
      if (looked++ >= MAX_PINNED_SKIPPED) break
      if (!this.isPinned(entry, nowMillis)) {
        this.remove(key)
        this.evicted++
        dropped.push(entry.value)
        return { dropped, room: true }
      }
    }
    return { dropped, room: false }
  }

  add(key: string, value: V, nowMillis: number): void {
    this.entries.set(key, { value, lastUsedMillis: nowMillis, inFlight: 0 })
    this.newest = key
  }

  private moveToEnd(key: string, entry: Entry<V>): void {
    this.entries.delete(key)
    this.entries.set(key, entry)
    this.newest = key
  }

  private remove(key: string): void {
    this.entries.delete(key)
    if (key === this.newest) this.newest = undefined
  }

  private isPinned(entry: Entry<V>, nowMillis: number): boolean {
    return entry.inFlight > 0 || this.pinned(entry.value, nowMillis)
  }
}
