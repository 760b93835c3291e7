/**
 * The bulkhead's slot counting and fair (FIFO) wait queue, after Resilience4j's `SemaphoreBulkhead`
 * with a fair semaphore.
 *
 * Pure in the sense this project uses: no Effect, no clock, no I/O. The queue is an intrusive doubly
 * linked list, so joining, leaving (a timeout or an interruption, from anywhere in the queue) and
 * admitting are O(1) and allocate nothing beyond the waiter itself. Admissions are returned to the
 * shell, which wakes the waiting fibers.
 *
 * @internal
 */

/** Where a waiter stands. Only `Waiting` waiters are in the queue. */
export const Waiting = 0
/** A slot has been counted for this waiter; it must either run its call or give the slot back. */
export const Admitted = 1
/** Left the queue without a slot (its wait expired, or it was interrupted). */
export const Left = 2
export type WaiterStatus = typeof Waiting | typeof Admitted | typeof Left

/** One caller waiting for a slot. `wake` is the shell's, called after admission. */
export class Waiter {
  status: WaiterStatus = Waiting
  prev: Waiter | undefined = undefined
  next: Waiter | undefined = undefined
  wake: (() => void) | undefined = undefined
}

const none: ReadonlyArray<Waiter> = []

/** @internal */
export class BulkheadCore {
  /** Calls holding a slot, admitted waiters included. May exceed the limit after it was lowered. */
  active = 0
  /** Waiters in the queue. */
  waiting = 0
  private head: Waiter | undefined = undefined
  private tail: Waiter | undefined = undefined

  constructor(public maxConcurrentCalls: number) {}

  /** Free slots, never negative (it reads 0 while a lowered limit is still exceeded). */
  get available(): number {
    return Math.max(0, this.maxConcurrentCalls - this.active)
  }

  /** Takes a slot at once, only when one is free and nobody waits for it (no barging past waiters). */
  tryAcquire(): boolean {
    if (this.active < this.maxConcurrentCalls && this.head === undefined) {
      this.active++
      return true
    }
    return false
  }

  /** Joins the back of the queue. */
  enqueue(waiter: Waiter): void {
    waiter.status = Waiting
    waiter.prev = this.tail
    waiter.next = undefined
    if (this.tail === undefined) this.head = waiter
    else this.tail.next = waiter
    this.tail = waiter
    this.waiting++
  }

  /**
   * The waiter gives up (its wait expired, or it was interrupted). Returns what it was: a `Waiting`
   * waiter simply leaves the queue; an `Admitted` one gives its slot back, which may admit others
   * (returned for the shell to wake).
   */
  leave(waiter: Waiter): { readonly was: WaiterStatus; readonly admitted: ReadonlyArray<Waiter> } {
    const was = waiter.status
    waiter.status = Left
    if (was === Waiting) {
      this.unlink(waiter)
      return { was, admitted: none }
    }
    if (was === Admitted) return { was, admitted: this.release() }
    return { was, admitted: none }
  }

  /** A call gave its slot back: admits waiters in arrival order while slots are free. */
  release(): ReadonlyArray<Waiter> {
    this.active--
    return this.head === undefined ? none : this.admit()
  }

  /** A new limit. Raising it admits waiters at once; lowering it takes nothing from running calls. */
  setMaxConcurrentCalls(max: number): ReadonlyArray<Waiter> {
    this.maxConcurrentCalls = max
    return this.head === undefined ? none : this.admit()
  }

  private admit(): ReadonlyArray<Waiter> {
    let admitted: Array<Waiter> | undefined
    while (this.head !== undefined && this.active < this.maxConcurrentCalls) {
      const waiter = this.head
      this.unlink(waiter)
      waiter.status = Admitted
      this.active++
      if (admitted === undefined) admitted = [waiter]
      else admitted.push(waiter)
    }
    return admitted ?? none
  }

  private unlink(waiter: Waiter): void {
    if (waiter.prev === undefined) this.head = waiter.next
    else waiter.prev.next = waiter.next
    if (waiter.next === undefined) this.tail = waiter.prev
    else waiter.next.prev = waiter.prev
    waiter.prev = undefined
    waiter.next = undefined
    this.waiting--
  }
}
