/**
 * The registry's feed of newly created guards, for observability to follow. It lives beside the
 * registry (not among the guards' internals) because it reads the registry: the guards' layer must not.
 *
 * @internal
 */
import type * as PubSub from "effect/PubSub"
import type { Guard, Registry } from "../Registry.js"

/** The registry's feed of newly created guards (a `PubSub` it keeps in its `created` field). */
export const createdFeedOf = (registry: Registry): PubSub.PubSub<Guard> =>
  (registry as unknown as { readonly created: PubSub.PubSub<Guard> }).created
