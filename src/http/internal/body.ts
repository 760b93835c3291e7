/**
 * Reading a response body with a cap (Envoy's `per_connection_buffer_limit_bytes`, .NET's
 * `MaxResponseContentBufferSize`): at most `limit` bytes are kept, and reading stops at the first byte
 * past it. Stopping early ends the body's stream, whose finalizer destroys the underlying readable
 * (undici, node:http) or cancels it (fetch): the connection is closed instead of being drained, so a
 * peer declaring 2 GB, or sending forever, costs us `limit` bytes and a socket, nothing more.
 *
 * @internal
 */
import { type HttpClientRequest, HttpClientResponse } from "#port/httpClient"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/** What was read: the bytes kept, and whether they are the whole body. */
export interface CappedBody {
  readonly bytes: Uint8Array
  /** False when the body went past the limit: `bytes` is its first `limit` bytes, the rest was never read. */
  readonly complete: boolean
}

interface Accumulator {
  readonly chunks: Array<Uint8Array>
  size: number
  over: boolean
}

/** Reads `stream` up to `limit` bytes; one byte more and it stops, keeping the first `limit`. */
export const readCapped = <E, R>(
  stream: Stream.Stream<Uint8Array, E, R>,
  limit: number
): Effect.Effect<CappedBody, E, R> =>
  Effect.suspend(() => {
    // Fresh per run: mutated in place (no copy per chunk).
    const acc: Accumulator = { chunks: [], size: 0, over: false }
    return Effect.map(
      Stream.runForEachWhile(stream, (chunk) =>
        Effect.sync(() => {
          const room = limit - acc.size
          if (chunk.byteLength > room) {
            if (room > 0) acc.chunks.push(chunk.subarray(0, room))
            acc.size = limit
            acc.over = true
          } else {
            acc.chunks.push(chunk)
            acc.size += chunk.byteLength
          }
          return !acc.over
        })),
      () => ({ bytes: concat(acc.chunks, acc.size), complete: !acc.over })
    )
  })

const concat = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  if (chunks.length === 1) return chunks[0]!
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}

/** Statuses whose body is empty by definition. */
const bodiless = (status: number) => status === 204 || status === 205 || status === 304

/**
 * A readable copy of `response` holding `bytes`. A cut body loses the headers that described the
 * whole one (`content-length`, `transfer-encoding`), so nobody reads it as complete.
 */
export const copyWithBody = (
  request: HttpClientRequest.HttpClientRequest,
  response: HttpClientResponse.HttpClientResponse,
  bytes: Uint8Array,
  complete: boolean
): HttpClientResponse.HttpClientResponse => {
  const headers: Record<string, string> = { ...response.headers }
  if (!complete) {
    delete headers["content-length"]
    delete headers["transfer-encoding"]
  }
  const empty = bytes.byteLength === 0 || bodiless(response.status)
  const copy = new Response(empty ? null : bytes, { status: response.status, headers })
  return HttpClientResponse.fromWeb(request, copy)
}
