/**
 * Turning hostile request data into bounded, printable keys.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import { isIP } from "node:net"

const PRINTABLE = /^[\x21-\x7e]*$/

const digest = (value: string): string => createHash("sha256").update(value, "utf8").digest("base64url").slice(0, 32)

/**
 * `value` itself when it is short printable ASCII, otherwise a 192-bit digest of it: a key is never
 * longer than `maxLength` (plus a short prefix), never holds control or non-ASCII characters, and two
 * different long keys collide only with negligible probability.
 */
export const boundedKey = (value: string, maxLength: number): string =>
  value.length <= maxLength && PRINTABLE.test(value) ? value : `#${digest(value)}`

/** A secret (an API key) is never kept or shown as is. */
export const secretKey = (value: string): string => `#${digest(value)}`

/** Strips the IPv4-mapped IPv6 prefix, so `::ffff:10.0.0.1` and `10.0.0.1` are one client. */
const normalizeIp = (ip: string): string => ip.startsWith("::ffff:") && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip

/**
 * The client address: the `trustedHops`-th address from the right of `X-Forwarded-For` when proxies
 * are trusted and that entry is a well-formed IP address, else the socket's peer address.
 */
export const clientIp = (
  forwardedFor: string | undefined,
  remoteAddress: string | undefined,
  trustedHops: number
): string | undefined => {
  if (trustedHops > 0 && forwardedFor !== undefined && forwardedFor.length > 0) {
    // Only the rightmost entries are written by our proxies; a long header's head is the client's to forge.
    const tail = forwardedFor.length > 2048 ? forwardedFor.slice(-2048) : forwardedFor
    const hops = tail.split(",")
    const entry = hops[hops.length - trustedHops]?.trim()
    if (entry !== undefined && isIP(entry) !== 0) return normalizeIp(entry)
  }
  return remoteAddress !== undefined && isIP(remoteAddress) !== 0 ? normalizeIp(remoteAddress) : undefined
}
