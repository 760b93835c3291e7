/**
 * Lets other modules ask, without an Effect, whether a breaker refuses calls right now (Open before its
 * wait ends, or ForcedOpen). Tables that evict per-key guards use it so that evicting never forgets a
 * circuit that is still cutting a dependency off. A breaker whose state lives in a shared store answers
 * `false`: dropping its local instance forgets nothing.
 *
 * @internal
 */

const probes = new WeakMap<object, (nowMillis: number) => boolean>()

/** Called by the breaker itself when it is made. */
export const registerRefusalProbe = (breaker: object, probe: (nowMillis: number) => boolean): void => {
  probes.set(breaker, probe)
}

/** Whether `breaker` refuses calls at `nowMillis`; `false` for a breaker that registered no probe. */
export const isRefusing = (breaker: object, nowMillis: number): boolean => probes.get(breaker)?.(nowMillis) ?? false
