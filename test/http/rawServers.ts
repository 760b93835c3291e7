/**
 * Hostile dependencies written with `node:net`, byte by byte, so that a test sees what the server
 * really sent and when the client hung up: bodies that never end, lengths that lie.
 */
import { callback, completeNow } from "#port"
import { Deferred, Effect } from "effect"
import * as net from "node:net"

/** What a raw server saw. */
export interface Wire {
  /** Bytes the kernel accepted from the server, every connection included. */
  readonly bytesSent: () => number
  readonly connections: () => number
  /** Completed when the client closes a connection. */
  readonly closed: Deferred.Deferred<void>
}

const CHUNK = Buffer.alloc(64 * 1024, "x")

/**
 * Serves every connection with `head` (status line and headers, without the blank line), then a body
 * made of `next()` pieces forever, written only as fast as the client reads (backpressure): what the
 * server sends is what the client pulled plus the kernel's socket buffers. `chunked` frames each piece
 * as an HTTP chunk.
 */
export const endless = (head: string, options: { readonly next?: () => Buffer; readonly chunked?: boolean } = {}) =>
  Effect.gen(function*() {
    const next = options.next ?? (() => CHUNK)
    const closed = yield* Deferred.make<void>()
    const sockets = new Set<net.Socket>()
    let bytesOfClosed = 0
    let connections = 0
    const frame = (data: Buffer) =>
      options.chunked === true
        ? Buffer.concat([Buffer.from(`${data.byteLength.toString(16)}\r\n`), data, Buffer.from("\r\n")])
        : data
    const server = net.createServer((socket) => {
      connections++
      sockets.add(socket)
      socket.on("error", () => socket.destroy())
      socket.on("close", () => {
        bytesOfClosed += socket.bytesWritten
        sockets.delete(socket)
        completeNow(closed, Effect.void)
      })
      const pump = () => {
        while (!socket.destroyed && socket.writable) {
          if (!socket.write(frame(next()))) return
        }
      }
      // Answer as soon as the request starts arriving.
      socket.once("data", () => {
        socket.write(`${head}\r\n\r\n`)
        socket.on("drain", pump)
        pump()
      })
    })
    yield* Effect.acquireRelease(
      callback<void>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.void))
      }),
      () =>
        callback<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    const port = (server.address() as net.AddressInfo).port
    const wire: Wire = {
      bytesSent: () => {
        let total = bytesOfClosed
        for (const socket of sockets) total += socket.bytesWritten
        return total
      },
      connections: () => connections,
      closed
    }
    return { url: `http://127.0.0.1:${port}`, wire }
  })
