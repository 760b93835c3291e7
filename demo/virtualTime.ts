/**
 * Discrete-event virtual time for the simulation: a `Clock` whose sleeps wait in a queue, and a
 * scheduler that runs the fibers' work; the driver advances the clock to the next sleep only once
 * every fiber is idle. `TestClock` does the same job for unit tests, but waits for a real timer at
 * each wake-up (about 4 ms each, measured), so ten simulated minutes of this scenario (~10^5 wake-ups)
 * would take minutes; here they take seconds. Everything the guards read (`Clock`, `Effect.sleep`,
 * `Schedule`, timeouts) goes through this clock, so they run unchanged. The clock's and the scheduler's
 * shapes differ between Effects: `#port/demo` makes them.
 */
import { forkWith, makeClock, makeScheduler } from "#port/demo"
import { type Effect, Exit } from "effect"

interface Sleeper {
  readonly at: number
  readonly seq: number
  readonly wake: () => void
  cancelled: boolean
}

/** A binary min-heap of sleepers by (time, order of arrival): equal times wake in FIFO order. */
class SleeperHeap {
  private readonly items: Array<Sleeper> = []
  get size(): number {
    return this.items.length
  }
  private less(a: Sleeper, b: Sleeper): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }
  push(item: Sleeper): void {
    const items = this.items
    items.push(item)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(items[i]!, items[parent]!)) break
      ;[items[i], items[parent]] = [items[parent]!, items[i]!]
      i = parent
    }
  }
  peek(): Sleeper | undefined {
    return this.items[0]
  }
  pop(): Sleeper | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length > 0 && last !== undefined) {
      items[0] = last
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        const right = left + 1
        let smallest = i
        if (left < items.length && this.less(items[left]!, items[smallest]!)) smallest = left
        if (right < items.length && this.less(items[right]!, items[smallest]!)) smallest = right
        if (smallest === i) break
        ;[items[i], items[smallest]] = [items[smallest]!, items[i]!]
        i = smallest
      }
    }
    return top
  }
}

class VirtualClock {
  now = 0
  private seq = 0
  readonly sleepers = new SleeperHeap()
  /** The `Clock` the program sees (each Effect's shape: `#port/demo`). */
  readonly clock = makeClock(() => this.now, (millis, wake) => {
    const sleeper: Sleeper = { at: this.now + millis, seq: this.seq++, wake, cancelled: false }
    this.sleepers.push(sleeper)
    return () => {
      sleeper.cancelled = true
    }
  })
}

/**
 * Lets pending promise continuations (response bodies) run: a few microtask turns, cheap enough for
 * every step, and enough for nearly all of them; `settleFully` (a macrotask turn, ~20% of a run's
 * time) then makes sure before the clock moves. Their order is fixed by the program, so the run stays
 * deterministic either way.
 */
const settle = async () => {
  for (let i = 0; i < 16; i++) await undefined
}

const settleFully = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * Runs `effect` in virtual time from epoch 0 with a `Random` seeded by `seed`. Rejects if the effect
 * fails, or if every fiber waits on something other than the clock (nothing could ever wake it).
 */
export const run = async <A, E>(effect: Effect.Effect<A, E>, seed: number): Promise<A> => {
  const clock = new VirtualClock()
  const scheduler = makeScheduler()
  let exit: Exit.Exit<A, E> | undefined
  forkWith(effect, clock.clock, scheduler, seed, (done) => (exit = done))
  for (;;) {
    scheduler.flush()
    // Promises (response bodies) settle between steps; their continuations come back as tasks.
    await settle()
    if (!scheduler.idle) continue
    if (exit !== undefined) break
    // Before time moves on, every promise started at this instant must have settled: a continuation
    // deeper than the few turns above would otherwise run at a later instant than it should.
    await settleFully()
    if (!scheduler.idle) continue
    let next = clock.sleepers.pop()
    while (next !== undefined && next.cancelled) next = clock.sleepers.pop()
    if (next === undefined) throw new Error("virtual time: every fiber is blocked and no sleep is pending")
    clock.now = next.at
    next.wake()
    // Wake every sleeper due at the same instant before running anyone.
    while (clock.sleepers.peek()?.at === clock.now) {
      const same = clock.sleepers.pop()!
      if (!same.cancelled) same.wake()
    }
  }
  if (Exit.isSuccess(exit)) return exit.value
  throw new Error(`virtual time: the simulation failed: ${String(exit.cause)}`)
}
