/**
 * A real Redis Cluster for the cluster suites (never a mock): six `redis-server` processes on free
 * loopback ports (3 masters, 3 replicas), joined with `redis-cli --cluster create ... --cluster-replicas 1`,
 * started for the calling test file and torn down after it (processes killed, their directories removed).
 * Without the binaries the suite is skipped with a visible notice — except under `CI=true`, where it fails.
 *
 * Real processes, real clock: start-up waits (bounded) for every node to report `cluster_state:ok`.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { hasRedisServer } from "./redisServer.js"

const onCI = process.env["CI"] === "true"

const run = (file: string, args: ReadonlyArray<string>, timeoutMillis = 20_000): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMillis }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`${file} ${args.join(" ")}: ${error.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })

/** `redis-cli -p <port> <args...>` (raw output). */
export const cli = (port: number, ...args: ReadonlyArray<string>): Promise<string> =>
  run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args])

const canListen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = net.createServer()
    server.unref()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/**
 * A port whose cluster bus port (port + 10000) is free too. Picked at random in 20000–29999 (bus ports
 * 30000–39999 stay under Linux's usual ephemeral range start, 32768, only partly; both are checked).
 */
const freeClusterPort = async (taken: Set<number>): Promise<number> => {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000)
    if (taken.has(port) || taken.has(port + 10_000)) continue
    if ((await canListen(port)) && (await canListen(port + 10_000))) {
      taken.add(port)
      taken.add(port + 10_000)
      return port
    }
  }
  throw new Error("no free port pair (port, port + 10000) found for a cluster node")
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMillis: number): Promise<void> => {
  const deadline = Date.now() + timeoutMillis
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMillis} ms`)
    await sleep(50)
  }
}

export interface ClusterNode {
  readonly port: number
  /** Whether its process runs (a killed node stays dead). */
  readonly alive: () => boolean
}

export interface RedisCluster {
  readonly nodes: ReadonlyArray<ClusterNode>
  /** `[{ host, port }]` of every node, for `new Cluster(...)` / `RedisStore.layer({ clusterNodes })`. */
  readonly startupNodes: ReadonlyArray<{ readonly host: string; readonly port: number }>
  /** The port of the master serving `slot` now (asked of a live node). */
  readonly masterOf: (slot: number) => Promise<number>
  /** The ports of the replicas of the master on `port`. */
  readonly replicasOf: (port: number) => Promise<ReadonlyArray<number>>
  /** Kills a node (SIGKILL: no goodbye to the cluster). */
  readonly kill: (port: number) => Promise<void>
  /** Waits until every live node reports `cluster_state:ok` and every live replica's link to its master is up. */
  readonly waitOk: (timeoutMillis?: number) => Promise<void>
  readonly stop: () => Promise<void>
}

export interface ClusterSettings {
  /** `cluster-node-timeout`: how long a master may be silent before its replica takes over. Default 1000 ms. */
  readonly nodeTimeoutMillis?: number
  /** Extra redis-server arguments for every node (e.g. `["--rename-command", "SPUBLISH", ""]`). */
  readonly extraArgs?: ReadonlyArray<string>
}

/** Starts six nodes in parallel, joins them (3 masters + 3 replicas) and waits for `cluster_state:ok`. */
export const startCluster = async (settings?: ClusterSettings): Promise<RedisCluster> => {
  const taken = new Set<number>()
  const ports: Array<number> = []
  for (let i = 0; i < 6; i++) ports.push(await freeClusterPort(taken))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "breakwater-cluster-"))
  const children = new Map<number, ChildProcess>()
  const exited = new Map<number, Promise<void>>()
  const stop = async () => {
    const running = [...children.entries()]
    children.clear()
    await Promise.all(running.map(([port, child]) => {
      child.kill("SIGKILL")
      return exited.get(port)
    }))
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const port of ports) {
      const nodeDir = path.join(dir, String(port))
      fs.mkdirSync(nodeDir)
      const child = spawn(
        "redis-server",
        [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          "nodes.conf",
          "--cluster-node-timeout",
          String(settings?.nodeTimeoutMillis ?? 1_000),
          "--save",
          "",
          "--appendonly",
          "no",
          // A replica's first sync starts at once (the default waits 5 s for more replicas to join it).
          "--repl-diskless-sync-delay",
          "0",
          "--dir",
          nodeDir,
          ...(settings?.extraArgs ?? [])
        ],
        { stdio: "ignore" }
      )
      children.set(port, child)
      exited.set(port, new Promise((resolve) => child.once("exit", () => resolve())))
    }
    await Promise.all(
      ports.map((port) =>
        waitFor(`node ${port} answering`, async () => (await cli(port, "PING")).trim() === "PONG", 10_000)
      )
    )
    await run("redis-cli", [
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      "1",
      "--cluster-yes"
    ], 30_000)
  } catch (error) {
    await stop()
    throw error
  }
  const alive = (port: number) => children.has(port)
  const live = () => ports.filter(alive)
  const waitOk = async (timeoutMillis = 15_000) => {
    await Promise.all(
      live().map((port) =>
        waitFor(`node ${port} cluster_state:ok`, async () => {
          if (!(await cli(port, "CLUSTER", "INFO")).includes("cluster_state:ok")) return false
          const replication = await cli(port, "INFO", "replication")
          return replication.includes("role:master") || replication.includes("master_link_status:up")
        }, timeoutMillis)
      )
    )
  }
  const cluster: RedisCluster = {
    nodes: ports.map((port) => ({ port, alive: () => alive(port) })),
    startupNodes: ports.map((port) => ({ host: "127.0.0.1", port })),
    masterOf: async (slot) => {
      const raw = await cli(live()[0]!, "--json", "CLUSTER", "SHARDS")
      const shards = JSON.parse(raw) as ReadonlyArray<ReadonlyArray<unknown>>
      for (const shard of shards) {
        const fields = toRecord(shard)
        const slots = fields["slots"] as ReadonlyArray<number>
        let owns = false
        for (let i = 0; i < slots.length; i += 2) if (slot >= slots[i]! && slot <= slots[i + 1]!) owns = true
        if (!owns) continue
        for (const node of fields["nodes"] as ReadonlyArray<ReadonlyArray<unknown>>) {
          const n = toRecord(node)
          if (n["role"] === "master" && n["health"] === "online") return n["port"] as number
        }
      }
      throw new Error(`no online master serves slot ${slot}`)
    },
    replicasOf: async (port) => {
      const id = (await cli(port, "CLUSTER", "MYID")).trim()
      const raw = await cli(live().find((p) => p !== port) ?? port, "CLUSTER", "REPLICAS", id)
      return [...raw.matchAll(/127\.0\.0\.1:(\d+)@/g)].map((m) => Number(m[1]))
    },
    kill: async (port) => {
      const child = children.get(port)
      if (child === undefined) return
      children.delete(port)
      child.kill("SIGKILL")
      await exited.get(port)
    },
    waitOk,
    stop
  }
  try {
    await waitOk()
  } catch (error) {
    await stop()
    throw error
  }
  return cluster
}

/** redis-cli --json prints RESP maps as flat [key, value, ...] arrays or as objects; both read here. */
const toRecord = (value: unknown): Record<string, unknown> => {
  if (!Array.isArray(value)) return value as Record<string, unknown>
  const record: Record<string, unknown> = {}
  for (let i = 0; i + 1 < value.length; i += 2) record[String(value[i])] = value[i + 1]
  return record
}

/** How a cluster suite gets its cluster, decided once per test file. */
export type ClusterTarget =
  | { readonly _tag: "Available"; readonly cluster: RedisCluster }
  | { readonly _tag: "Unavailable"; readonly reason: string }

/** A private cluster; `Unavailable` (or a thrown error under CI) when redis-server is missing. */
export const clusterTarget = async (settings?: ClusterSettings): Promise<ClusterTarget> => {
  if (!hasRedisServer()) {
    const reason = "no redis-server binary: the Redis Cluster suite is skipped"
    if (onCI) throw new Error(`${reason} — not allowed under CI=true (.ci/run installs redis-server)`)
    console.warn(`\n*** ${reason} ***\n`)
    return { _tag: "Unavailable", reason }
  }
  return { _tag: "Available", cluster: await startCluster(settings) }
}
