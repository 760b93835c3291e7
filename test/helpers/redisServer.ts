/**
 * A real Redis for the Redis suites (never a mock). `REDIS_URL` when set; otherwise a private
 * `redis-server` on a free loopback port, started for the calling test file and stopped after it.
 * Without either, the suite is skipped with a visible notice — except under `CI=true`, where it fails.
 *
 * Fault tests need a server they may stop and start again: `privateServer()` always starts its own and
 * keeps its port across restarts.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { freePort } from "./freePort.js"

const onCI = process.env["CI"] === "true"

const hasBinary = (binary: string): boolean => {
  try {
    execFileSync(binary, ["--version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

export const hasRedisServer = (): boolean => hasBinary("redis-server")

const waitForPort = async (port: number, timeoutMillis: number): Promise<void> => {
  const deadline = Date.now() + timeoutMillis
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1")
      socket.once("connect", () => {
        socket.end()
        resolve(true)
      })
      socket.once("error", () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port} within ${timeoutMillis} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A redis-server process this test file owns: it can be stopped and started again on the same port. */
export interface PrivateServer {
  readonly url: string
  readonly port: number
  readonly start: () => Promise<void>
  readonly stop: () => Promise<void>
  /** Freezes the server (SIGSTOP): connections stay up, nothing is answered — a stalled Redis. */
  readonly pause: () => void
  /** Thaws it (SIGCONT): it answers what queued meanwhile. */
  readonly resume: () => void
}

/**
 * `appendOnly`: the server logs every write before answering it, so its data survives a kill and restart
 * (for tests that check nothing is lost across an outage).
 */
export const privateServer = async (
  options?: { readonly appendOnly?: boolean; readonly binary?: string }
): Promise<PrivateServer> => {
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "breakwater-redis-"))
  let child: ChildProcess | undefined
  const start = async () => {
    if (child !== undefined) return
    child = spawn(
      options?.binary ?? "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        options?.appendOnly === true ? "yes" : "no",
        "--dir",
        dir
      ],
      { stdio: "ignore" }
    )
    await waitForPort(port, 5_000)
  }
  const stop = async () => {
    const running = child
    if (running === undefined) return
    child = undefined
    // A frozen process still dies of SIGKILL; thawing first keeps the exit prompt on every platform.
    running.kill("SIGCONT")
    await new Promise<void>((resolve) => {
      running.once("exit", () => resolve())
      running.kill("SIGKILL")
    })
  }
  const signal = (name: NodeJS.Signals) => () => {
    if (child === undefined) throw new Error("the private redis-server is not running")
    child.kill(name)
  }
  await start()
  return { url: `redis://127.0.0.1:${port}`, port, start, stop, pause: signal("SIGSTOP"), resume: signal("SIGCONT") }
}

/** How a Redis suite gets its server, decided once per test file. */
export type RedisTarget =
  | { readonly _tag: "Available"; readonly url: string; readonly stop: () => Promise<void> }
  | { readonly _tag: "Unavailable"; readonly reason: string }

/** `REDIS_URL`, else a private server; `Unavailable` (or a thrown error under CI) when neither exists. */
export const redisTarget = async (): Promise<RedisTarget> => {
  const url = process.env["REDIS_URL"]
  if (url !== undefined && url !== "") return { _tag: "Available", url, stop: async () => {} }
  if (!hasRedisServer()) {
    const reason = "no REDIS_URL and no redis-server binary: the Redis suite is skipped"
    if (onCI) throw new Error(`${reason} — not allowed under CI=true (.ci/run installs redis-server)`)
    console.warn(`\n*** ${reason} ***\n`)
    return { _tag: "Unavailable", reason }
  }
  const server = await privateServer()
  return { _tag: "Available", url: server.url, stop: server.stop }
}

/** Whether a fault test (which must stop and restart its server) can run here; throws under CI if not. */
export const canRunFaultTests = (): boolean => {
  if (hasRedisServer()) return true
  const reason = "no redis-server binary: the Redis fault tests are skipped"
  if (onCI) throw new Error(`${reason} — not allowed under CI=true`)
  console.warn(`\n*** ${reason} ***\n`)
  return false
}

/**
 * A private Valkey server (`valkey-server`, the open-source fork of Redis) for the contract suites, or
 * `Unavailable` with a visible notice when the binary is missing. Skipping is allowed even under CI only
 * because the package does not exist in this machine's Debian registry (`apt-cache policy valkey-server
 * valkey` shows no candidate): when it becomes installable, .ci/run installs it and the suites run.
 */
export const valkeyTarget = async (): Promise<RedisTarget> => {
  if (!hasBinary("valkey-server")) {
    const reason =
      "no valkey-server binary (Debian package valkey-server, not in this machine's package registry): the Valkey contract subject is skipped"
    console.warn(`\n*** ${reason} ***\n`)
    return { _tag: "Unavailable", reason }
  }
  const server = await privateServer({ binary: "valkey-server" })
  return { _tag: "Available", url: server.url, stop: server.stop }
}
