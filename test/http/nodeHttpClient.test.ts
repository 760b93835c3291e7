/**
 * The HTTP test port's `node:http` client (`nodeHttpClient`), the load generator of the bench's Effect 4
 * HTTP rows (bench/targets/httpCases.ts): it must keep its connection alive, or every request of a
 * benchmark round would pay for a new TCP connection and dilute the guards' cost. Real sockets and the
 * real clock (a plain `node:http` server on 127.0.0.1), on both Effect targets.
 */
import { itScopedLive } from "#test-port"
import { nodeHttpClient } from "#test-port/http"
import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import type { Socket } from "node:net"
import { serveNode } from "./dependency.js"

describe("the test port's node:http client", () => {
  itScopedLive("sends a sequence of requests over one kept-alive connection", () =>
    Effect.gen(function*() {
      const sockets = new Set<Socket>()
      const url = yield* serveNode((request, response) => {
        sockets.add(request.socket)
        request.resume()
        response.writeHead(200, { "content-type": "text/plain", "content-length": 2 })
        response.end("ok")
      })
      const client = yield* nodeHttpClient
      const bodies: Array<string> = []
      for (let i = 0; i < 5; i++) {
        const response = yield* client.get(url)
        expect(response.status).toBe(200)
        bodies.push(yield* response.text)
      }
      expect(bodies).toEqual(["ok", "ok", "ok", "ok", "ok"])
      expect(sockets.size).toBe(1)
    }))
})
