/**
 * Reading the quota an upstream announces in its responses, before it answers 429: the IETF draft's
 * `RateLimit` / `RateLimit-Policy` fields (draft-ietf-httpapi-ratelimit-headers, structured-field lists
 * such as `"default";r=42;t=17` and `"default";q=100;w=60`), its earlier forms still sent by common
 * servers (draft 7's one dictionary `RateLimit: limit=100, remaining=25, reset=5`; draft 6's separate
 * `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset`, e.g. express-rate-limit's
 * `standardHeaders`), and the older `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`.
 *
 * Pure, and hostile-input safe: fields longer than {@link MAX_FIELD_LENGTH} or lists longer than
 * {@link MAX_ITEMS} are ignored, numbers are non-negative integers of at most 10 digits, and absurd
 * values are capped (a quota at {@link MAX_QUOTA}, a reset or window at {@link MAX_RESET_SECONDS}), so
 * an upstream cannot make a limiter wait for a year or allocate for a billion permits.
 *
 * @internal
 */

/** What an upstream said of its quota: `remaining` calls until `resetAfterMillis` from now. */
export interface AnnouncedQuota {
  readonly remaining: number
  readonly resetAfterMillis: number
  /** The quota per window, when announced (`q` of `RateLimit-Policy`, or `X-RateLimit-Limit`). */
  readonly limit?: number | undefined
  /** The window, when announced (`w` of `RateLimit-Policy`). */
  readonly windowMillis?: number | undefined
}

export const MAX_FIELD_LENGTH = 1_024
export const MAX_ITEMS = 16
export const MAX_QUOTA = 1_000_000_000
/** One day: no announced reset or window is taken as longer. */
export const MAX_RESET_SECONDS = 86_400

const INTEGER = /^\d{1,10}$/

const integer = (text: string | undefined): number | undefined =>
  text !== undefined && INTEGER.test(text) ? Number(text) : undefined

const seconds = (value: number): number => Math.min(value, MAX_RESET_SECONDS) * 1_000

interface Item {
  readonly name: string
  readonly params: ReadonlyMap<string, number>
}

/** A structured-field list of `"name";key=int;...` items (or bare tokens as names); undefined if malformed. */
const parseList = (field: string | undefined): ReadonlyArray<Item> | undefined => {
  if (field === undefined || field.length === 0 || field.length > MAX_FIELD_LENGTH) return undefined
  const members = field.split(",")
  if (members.length > MAX_ITEMS) return undefined
  const items: Array<Item> = []
  for (const member of members) {
    const [head, ...rest] = member.trim().split(";")
    const name = head?.trim() ?? ""
    if (!/^"[^"\\]{0,64}"$|^[A-Za-z*][A-Za-z0-9_\-.:%*/]{0,63}$/.test(name)) continue
    const params = new Map<string, number>()
    for (const param of rest) {
      const [key, value] = param.trim().split("=")
      const n = integer(value?.trim())
      if (key !== undefined && /^[a-z][a-z0-9_\-.*]{0,15}$/.test(key.trim()) && n !== undefined) {
        params.set(key.trim(), n)
      }
    }
    items.push({ name: name.replace(/"/g, ""), params })
  }
  return items
}

/** The IETF fields: the item with the fewest remaining calls, with its policy's quota and window. */
const fromDraft = (rateLimit: string | undefined, policy: string | undefined): AnnouncedQuota | undefined => {
  let chosen: { name: string; remaining: number; reset: number } | undefined
  for (const item of parseList(rateLimit) ?? []) {
    const remaining = item.params.get("r")
    if (remaining === undefined) continue
    const reset = item.params.get("t") ?? 0
    if (chosen === undefined || remaining < chosen.remaining) chosen = { name: item.name, remaining, reset }
  }
  if (chosen === undefined) return undefined
  const match = (parseList(policy) ?? []).find((item) => item.name === chosen.name)
  const limit = match?.params.get("q")
  const window = match?.params.get("w")
  return {
    remaining: Math.min(chosen.remaining, MAX_QUOTA),
    resetAfterMillis: seconds(chosen.reset),
    limit: limit === undefined ? undefined : Math.min(limit, MAX_QUOTA),
    windowMillis: window === undefined || window === 0 ? undefined : seconds(window)
  }
}

/**
 * `X-RateLimit-Reset` is delta-seconds for most upstreams and epoch seconds for some (GitHub): a value
 * past 2001-09-09 (10^9 s) is read as a time, in the past meaning 0.
 */
const fromLegacy = (
  limitField: string | undefined,
  remainingField: string | undefined,
  resetField: string | undefined,
  nowMillis: number
): AnnouncedQuota | undefined => {
  const remaining = integer(remainingField?.trim())
  if (remaining === undefined) return undefined
  const limit = integer(limitField?.trim())
  const reset = integer(resetField?.trim())
  const resetSeconds = reset === undefined
    ? 0
    : reset >= 1_000_000_000
    ? Math.max(0, Math.ceil(reset - nowMillis / 1_000))
    : reset
  return {
    remaining: Math.min(remaining, MAX_QUOTA),
    resetAfterMillis: seconds(resetSeconds),
    limit: limit === undefined ? undefined : Math.min(limit, MAX_QUOTA),
    windowMillis: undefined
  }
}

/** Draft 7's single dictionary, `RateLimit: limit=100, remaining=25, reset=5` (reset in delta seconds). */
const fromDraft7 = (field: string | undefined, nowMillis: number): AnnouncedQuota | undefined => {
  if (field === undefined || field.length > MAX_FIELD_LENGTH) return undefined
  const members = field.split(",")
  if (members.length > MAX_ITEMS) return undefined
  const values = new Map<string, string>()
  for (const member of members) {
    const [key, value] = member.trim().split("=")
    if (key !== undefined && value !== undefined) values.set(key.trim().toLowerCase(), value.trim())
  }
  return fromLegacy(values.get("limit"), values.get("remaining"), values.get("reset"), nowMillis)
}

/**
 * The quota announced by a response's headers (`header(name)` returns a field's value, lower-case name):
 * the IETF fields first (the current draft, then draft 7's dictionary, then draft 6's separate fields),
 * then `X-RateLimit-*`; undefined when none says anything usable.
 */
export const parseAnnouncedQuota = (
  header: (name: string) => string | undefined,
  nowMillis: number
): AnnouncedQuota | undefined =>
  fromDraft(header("ratelimit"), header("ratelimit-policy")) ??
    fromDraft7(header("ratelimit"), nowMillis) ??
    fromLegacy(header("ratelimit-limit"), header("ratelimit-remaining"), header("ratelimit-reset"), nowMillis) ??
    fromLegacy(header("x-ratelimit-limit"), header("x-ratelimit-remaining"), header("x-ratelimit-reset"), nowMillis)
