/**
 * Who may read the dashboard and what it shows them: the `Host` check against DNS rebinding, the
 * security headers every response carries, and the redaction of configuration and guard names.
 * Pure: no Effect; the shell gives the request's figures in.
 */
import { createHmac, randomBytes } from "node:crypto"
import { isIP } from "node:net"

/**
 * The page loads its script, styles and charting library from its own origin and reads its own
 * events: nothing inline, nothing from elsewhere, never framed. The page satisfies this policy (its
 * script sets styles through the CSSOM, which the policy allows, never through `style` attributes).
 */
export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

/** Sent with every response of the dashboard's routes, refusals and errors included. */
export const securityHeaders: Readonly<Record<string, string>> = {
  "content-security-policy": contentSecurityPolicy,
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin"
}

/**
 * The host name of a `Host` header, lower case, without port, brackets or trailing dot; `undefined`
 * for a malformed header.
 */
export const hostnameOf = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined
  const value = header.trim().toLowerCase()
  let host: string
  if (value.startsWith("[")) {
    const end = value.indexOf("]")
    if (end < 0) return undefined
    host = value.slice(1, end)
    if (isIP(host) !== 6) return undefined
    const rest = value.slice(end + 1)
    if (rest !== "" && !/^:\d{1,5}$/.test(rest)) return undefined
    return host
  }
  const colon = value.indexOf(":")
  if (colon >= 0) {
    if (!/^\d{1,5}$/.test(value.slice(colon + 1))) return undefined
    host = value.slice(0, colon)
  } else {
    host = value
  }
  if (host.endsWith(".")) host = host.slice(0, -1)
  return /^[a-z0-9.-]+$/.test(host) ? host : undefined
}

/**
 * Whether a request naming `hostname` in its `Host` header is answered. DNS rebinding needs a name
 * the attacker controls resolving to this server: an IP literal or `localhost` (and `*.localhost`,
 * which resolve to loopback by RFC 6761) cannot be one, so they are always allowed, as Vite and
 * webpack-dev-server do (the address the server is bound to is one of them). Any other name must be
 * listed: exactly (`"ops.example.com"`), as a domain and its subdomains (`".example.com"`), or `"*"`.
 */
export const hostAllowed = (hostname: string | undefined, allowed: ReadonlyArray<string>): boolean => {
  if (hostname === undefined || hostname === "") return false
  if (isIP(hostname) !== 0 || hostname === "localhost" || hostname.endsWith(".localhost")) return true
  for (const entry of allowed) {
    const name = entry.toLowerCase()
    if (name === "*" || name === hostname) return true
    if (name.startsWith(".") && (hostname === name.slice(1) || hostname.endsWith(name))) return true
  }
  return false
}

/** What is hidden from the dashboard's readers. */
export interface Redaction {
  /** Every guard's `configuration` sent as `{}`. */
  readonly configuration: boolean
  /** Guard names (host names of HTTP targets among them) sent as stable pseudonyms. */
  readonly names: boolean
}

/**
 * Stable pseudonyms for guard names: an HMAC of the name under a key drawn when the dashboard is
 * made, so the same guard keeps its pseudonym across documents (the page's charts and cards follow
 * it), a guessed host name cannot be confirmed from outside, and nothing is stored per name.
 */
export const pseudonyms = (key: Uint8Array = randomBytes(32)) => (name: string): string =>
  `guard-${createHmac("sha256", key).update(name).digest("hex").slice(0, 12)}`

interface Named {
  readonly name: string
  readonly configuration?: Readonly<Record<string, unknown>>
}

/** `view` as its readers may see it. */
export const redactView = <V extends Named>(view: V, redaction: Redaction, pseudonym: (name: string) => string): V => ({
  ...view,
  ...(redaction.names ? { name: pseudonym(view.name) } : {}),
  ...(redaction.configuration && view.configuration !== undefined ? { configuration: {} } : {})
})

interface HealthShape {
  readonly status: string
  readonly components: Readonly<
    Record<string, {
      readonly status: string
      readonly kind: string
      readonly name: string
      readonly details: Readonly<Record<string, number | string>>
    }>
  >
}

/**
 * A health report as its readers may see it: with names redacted, each component's key and name
 * are pseudonyms, and so is any text detail but the state (a hedge's `budget` is another guard's name).
 */
export const redactHealth = <H extends HealthShape>(
  health: H,
  redaction: Redaction,
  pseudonym: (name: string) => string
): H => {
  if (!redaction.names) return health
  const components: Record<string, H["components"][string]> = {}
  for (const component of Object.values(health.components)) {
    const name = pseudonym(component.name)
    const details: Record<string, number | string> = {}
    for (const [key, value] of Object.entries(component.details)) {
      details[key] = typeof value === "string" && key !== "state" ? pseudonym(value) : value
    }
    const kind = component.kind.charAt(0).toLowerCase() + component.kind.slice(1)
    components[`${kind}:${name}`] = { ...component, name, details } as H["components"][string]
  }
  return { ...health, components }
}
