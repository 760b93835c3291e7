/**
 * Runs a demo script as `npm start` / `npm run simulate` do (`node --import tsx demo/<script>.ts`, this
 * process's Node, from the repository's root) in a child process, killed after `timeoutMillis`.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export interface CommandRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const repo = fileURLToPath(new URL("../..", import.meta.url))

export const runCommand = (
  script: "start" | "simulate",
  argv: ReadonlyArray<string>,
  timeoutMillis: number,
  /** Called with all of stdout so far, whenever it grows. */
  onStdout: (stdout: string) => void = () => {}
): Promise<CommandRun> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", `demo/${script}.ts`, ...argv], {
      cwd: repo,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: `--effect 4` re-runs the script in a grandchild, killed with it below.
      detached: true
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      onStdout(stdout)
    })
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    // A run past the bound fails the test rather than hangs it; the whole group goes, grandchild included.
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL")
      reject(new Error(`demo/${script}.ts ${argv.join(" ")}: no exit within ${timeoutMillis} ms\n${stdout}\n${stderr}`))
    }, timeoutMillis)
    child.on("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/** The table's row labels (its first column) and cells, from the lines after the `---` rule. */
export const tableOf = (stdout: string): Map<string, ReadonlyArray<string>> => {
  const lines = stdout.split("\n")
  const rule = lines.findIndex((line) => /^-+( {3}-+)+$/.test(line))
  const rows = new Map<string, ReadonlyArray<string>>()
  if (rule < 0) return rows
  for (const line of lines.slice(rule + 1)) {
    if (line.trim() === "" || line.startsWith("report:")) break
    const cells = line.split(/ {3,}/)
    rows.set(cells[0]!.trim(), cells.slice(1).map((cell) => cell.trim()))
  }
  return rows
}
