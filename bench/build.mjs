/**
 * Compiles the benchmark (bench/index.ts with breakwater's sources) into one ES module without
 * esbuild's `keepNames`. tsx turns `keepNames` on, which wraps every function expression in a `__name`
 * call (an `Object.defineProperty` each time a closure is created): that taxes every per-call closure in
 * src/ and bench/ (about 2x on the floor wrapper) while the peers, already compiled in node_modules, do
 * not pay it. Compiled like a published package, both sides are measured alike.
 */
import { build } from "esbuild"
import { createRequire } from "node:module"
import * as path from "node:path"

export const outfile = "node_modules/.cache/breakwater-bench/index.mjs"

const repo = path.resolve(import.meta.dirname, "..")

/** One ES module per entry, dependencies left to node_modules, no `keepNames`. */
const common = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  keepNames: false,
  sourcemap: true,
  logLevel: "warning"
}

await build({ ...common, entryPoints: ["bench/index.ts"], outfile })

/**
 * The bench's parts built once per Effect target (issue 17): the same source, each build measured in
 * the one process beside the other. `bench/targets/<name>Cases.ts` becomes `<name>-effect<major>.mjs`
 * beside index.mjs (`targets-effect<major>.mjs` for the guards, as before).
 */
export const targetOutfile = (major, name = "targets") =>
  `node_modules/.cache/breakwater-bench/${name}-effect${major}.mjs`

/**
 * `#port`, `#port/<name>` and `#test-port/<name>` to the sources of Effect `major`'s ports (the package's
 * `imports` would give the Effect 3 port's compiled `dist/` files).
 */
const ports = (major) => ({
  name: "breakwater:ports",
  setup(build) {
    build.onResolve({ filter: /^#port(\/.+)?$/ }, (args) => ({
      path: path.join(repo, `src/port/effect${major}`, `${args.path === "#port" ? "index" : args.path.slice(6)}.ts`)
    }))
    build.onResolve({ filter: /^#test-port\/.+$/ }, (args) => ({
      path: path.join(repo, `test/port/effect${major}`, `${args.path.slice("#test-port/".length)}.ts`)
    }))
  }
})

/**
 * `effect` and the `@effect/*` integrations as targets/effect4 has them (effect 4.1.5 and
 * @effect/platform-node 4.1.5 there; the root's `effect4` alias is 4.1.0 and has no HTTP server or
 * client of its own): imported by absolute path, so whoever imports them, one Effect 4 is loaded. An
 * `@effect/*` package the target lacks fails the build rather than load the root's Effect 3 one.
 * ioredis and the other version-neutral packages stay the root's.
 */
const effect4Target = createRequire(path.join(repo, "targets/effect4/package.json"))
const fromEffect4Target = {
  name: "breakwater:effect4-target",
  setup(build) {
    build.onResolve({ filter: /^(effect|@effect\/[^/]+)(\/.*)?$/ }, (args) => ({
      path: effect4Target.resolve(args.path),
      external: true
    }))
  }
}

for (const major of [3, 4]) {
  // The guards (section 12): Effect 4 as the root's `effect4` alias, the runtime of the Effect 4 peers
  // in the main table, so ours and theirs are measured on the same Effect 4.
  await build({
    ...common,
    entryPoints: ["bench/targets/guardCases.ts"],
    outfile: targetOutfile(major),
    alias: major === 4 ? { effect: "effect4" } : {},
    plugins: [ports(major)]
  })
  // The HTTP edges (section 11) and the Redis store and shared breaker (section 9): Effect 4 from
  // targets/effect4, whose @effect/platform-node the HTTP cases need.
  for (const name of ["http", "redis"]) {
    await build({
      ...common,
      entryPoints: [`bench/targets/${name}Cases.ts`],
      outfile: targetOutfile(major, name),
      plugins: major === 4 ? [ports(major), fromEffect4Target] : [ports(major)]
    })
  }
}
