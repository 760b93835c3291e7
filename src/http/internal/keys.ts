/**
 * Turning hostile request data into bounded, printable keys: digests for long or secret values,
 * canonical client addresses (behind trusted proxies only), normalised paths.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import { BlockList, isIP } from "node:net"

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

// ---- addresses -----------------------------------------------------------------------------------

/** An address in one spelling: IPv4 dotted, or IPv6 as its eight 16-bit groups. */
type Address =
  | { readonly family: 4; readonly text: string }
  | { readonly family: 6; readonly groups: ReadonlyArray<number> }

/** The eight groups of a valid IPv6 address (zone id already removed). */
const ipv6Groups = (ip: string): Array<number> => {
  // WHATWG URL serialisation is the canonical (RFC 5952) spelling, with dotted quads turned to hex.
  const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1)
  const [head, tail] = canonical.split("::") as [string, string | undefined]
  const parse = (part: string | undefined) =>
    part === undefined || part === "" ? [] : part.split(":").map((g) => parseInt(g, 16))
  const left = parse(head)
  const right = parse(tail)
  return tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
}

/**
 * An address however it is spelled (IPv6 compressed or not, upper or lower case, with a zone id,
 * IPv4-mapped) as one value; `undefined` when it is not an IP address.
 */
export const parseAddress = (raw: string): Address | undefined => {
  const zone = raw.indexOf("%")
  const ip = zone === -1 ? raw : raw.slice(0, zone)
  const family = isIP(ip)
  if (family === 4) return { family: 4, text: ip }
  if (family !== 6) return undefined
  const groups = ipv6Groups(ip)
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi, lo] = [groups[6]!, groups[7]!]
    return { family: 4, text: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}` }
  }
  return { family: 6, groups }
}

/** The key of an address: IPv4 as is, IPv6 as its `prefix`-bit network (a host often holds a whole /64). */
export const addressKey = (address: Address, ipv6Prefix: number): string => {
  if (address.family === 4) return address.text
  const groups = address.groups.map((g, i) => {
    const bits = Math.min(16, Math.max(0, ipv6Prefix - i * 16))
    return bits === 16 ? g : bits === 0 ? 0 : g & (0xffff << (16 - bits)) & 0xffff
  })
  const text = new URL(`http://[${groups.map((g) => g.toString(16)).join(":")}]/`).hostname.slice(1, -1)
  return ipv6Prefix === 128 ? text : `${text}/${ipv6Prefix}`
}

/** A list of trusted proxies: addresses and CIDR ranges, IPv4 or IPv6. */
export class TrustedProxies {
  private readonly list = new BlockList()

  /** Throws on an entry that is not an address or CIDR range (the Schema checks them first). */
  constructor(readonly entries: ReadonlyArray<string>) {
    for (const entry of entries) {
      const [ip, bits] = entry.split("/") as [string, string | undefined]
      const address = parseAddress(ip)
      if (address === undefined) throw new Error(`not an IP address: ${entry}`)
      const family = isIP(ip) === 4 ? "ipv4" : "ipv6"
      if (bits === undefined) this.list.addAddress(ip, family)
      else this.list.addSubnet(ip, Number(bits), family)
    }
  }

  includes(address: Address): boolean {
    return address.family === 4
      ? this.list.check(address.text, "ipv4")
      : this.list.check(address.groups.map((g) => g.toString(16)).join(":"), "ipv6")
  }
}

/** Whether `entry` is an address or a CIDR range (prefix within its family's bits). */
export const isAddressOrRange = (entry: string): boolean => {
  const parts = entry.split("/")
  if (parts.length > 2) return false
  const family = isIP(parts[0]!)
  if (family === 0) return false
  if (parts.length === 1) return true
  return /^\d{1,3}$/.test(parts[1]!) && Number(parts[1]) <= (family === 4 ? 32 : 128)
}

/** At most this much of `X-Forwarded-For` is read, from the right (its head is the client's to forge). */
const MAX_FORWARDED = 2048

/**
 * The client's address: the socket's peer, unless the peer is a trusted proxy; then `X-Forwarded-For`
 * is walked from the right, through at most `maxHops` entries, while each address reached is itself a
 * trusted proxy. The first address that is not (or the last one walked) is the client. A malformed
 * entry stops the walk at the proxy that wrote it. `undefined` when the peer has no IP address.
 */
export const clientAddress = (
  forwardedFor: string | undefined,
  remoteAddress: string | undefined,
  trusted: TrustedProxies | undefined,
  maxHops: number
): Address | undefined => {
  let client = remoteAddress === undefined ? undefined : parseAddress(remoteAddress)
  if (client === undefined || trusted === undefined || forwardedFor === undefined || maxHops <= 0) return client
  const tail = forwardedFor.length > MAX_FORWARDED ? forwardedFor.slice(-MAX_FORWARDED) : forwardedFor
  const hops = tail.split(",")
  for (let i = hops.length - 1, walked = 0; i >= 0 && walked < maxHops && trusted.includes(client); i--, walked++) {
    const next = parseAddress(hops[i]!.trim())
    if (next === undefined) return client
    client = next
  }
  return client
}

// ---- paths ---------------------------------------------------------------------------------------

const decodeSegment = (segment: string): string => {
  if (!segment.includes("%")) return segment
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/**
 * A request path as one spelling: query and fragment dropped, percent-escapes decoded, `;params`
 * dropped from each segment, empty, `.` and `..` segments resolved, lower case, no trailing slash.
 * `/quotes/`, `//quotes`, `/%71uotes`, `/QUOTES` and `/quotes;a` are all `/quotes`.
 */
export const normalizePath = (url: string): string => {
  let end = url.length
  const query = url.indexOf("?")
  if (query !== -1) end = query
  const hash = url.indexOf("#")
  if (hash !== -1 && hash < end) end = hash
  const out: Array<string> = []
  for (const raw of url.slice(0, end).split("/")) {
    const semicolon = raw.indexOf(";")
    const segment = decodeSegment(semicolon === -1 ? raw : raw.slice(0, semicolon)).toLowerCase()
    if (segment === "" || segment === ".") continue
    if (segment === "..") out.pop()
    else out.push(segment)
  }
  return `/${out.join("/")}`
}
