/**
 * The simulation's discrete-event clock: time moves only once no work is pending at this instant.
 */
import { Clock, Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as VirtualTime from "../../demo/virtualTime.js"

describe("virtual time", () => {
  it("a promise that settles after many microtask turns still resumes its fiber at the same instant", async () => {
    const slowPromise = async () => {
      for (let i = 0; i < 200; i++) await undefined
    }
    const program = Effect.all([
      Effect.andThen(Effect.promise(slowPromise), Clock.currentTimeMillis),
      Effect.andThen(Effect.sleep("10 millis"), Clock.currentTimeMillis)
    ], { concurrency: "unbounded" })
    expect(await VirtualTime.run(program, 1)).toEqual([0, 10])
  })

  it("sleepers wake in time order, equal times in the order they slept", async () => {
    const woken: Array<string> = []
    const sleeper = (name: string, millis: number) =>
      Effect.andThen(
        Effect.sleep(millis),
        Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => woken.push(`${name}@${now}`)))
      )
    await VirtualTime.run(
      Effect.all([sleeper("a", 30), sleeper("b", 10), sleeper("c", 30), sleeper("d", 20)], {
        concurrency: "unbounded"
      }),
      1
    )
    expect(woken).toEqual(["b@10", "d@20", "a@30", "c@30"])
  })

  it("fails loudly when every fiber waits on something other than the clock", async () => {
    await expect(VirtualTime.run(Effect.never, 1)).rejects.toThrow(/every fiber is blocked/)
  })
})
