// Writes the Effect 4 package's package.json (package/package.json) from the repository's, after
// `tsc -p targets/effect4/tsconfig.build.json` has emitted package/dist. Same name, major + 1 (Effect 3
// is major N, Effect 4 major N + 1: 1.4.2 and 2.4.2 come from one commit); Effect 4 peers; `#port` on
// the Effect 4 port; only the subpaths whose files were emitted (while the port is partial).
import * as fs from "node:fs"
import * as path from "node:path"

const here = import.meta.dirname
const root = JSON.parse(fs.readFileSync(path.join(here, "../../package.json"), "utf8"))
// The package folder: targets/effect4/package, or the folder given (the package test builds into a temporary one).
const out = path.resolve(process.argv[2] ?? path.join(here, "package"))

const [major, ...rest] = root.version.split(".")
const emitted = (file) => fs.existsSync(path.join(out, file))

const exportsMap = Object.fromEntries(
  Object.entries(root.exports).filter(([, target]) => typeof target === "string" || emitted(target.import))
)

// Effect 4 has HTTP in effect/http: no @effect/platform. Its Node and OpenTelemetry packages are 4.x.
const peers = { ...root.peerDependencies, effect: "^4.1.0" }
delete peers["@effect/platform"]
peers["@effect/platform-node"] = "^4.1.0"
peers["@effect/opentelemetry"] = "^4.1.0"
const peersMeta = { ...root.peerDependenciesMeta }
delete peersMeta["@effect/platform"]

const pkg = {
  name: root.name,
  version: [Number(major) + 1, ...rest].join("."),
  description: root.description.replace("for Effect", "for Effect 4"),
  type: "module",
  license: root.license,
  repository: root.repository,
  homepage: root.homepage,
  bugs: root.bugs,
  engines: root.engines,
  sideEffects: false,
  imports: {
    "#port": { types: "./dist/port/effect4/index.d.ts", default: "./dist/port/effect4/index.js" },
    "#port/*": { types: "./dist/port/effect4/*.d.ts", default: "./dist/port/effect4/*.js" }
  },
  exports: exportsMap,
  files: ["dist", "src", "grafana"],
  peerDependencies: peers,
  peerDependenciesMeta: peersMeta
}
if (emitted("dist/index.js")) Object.assign(pkg, { main: "./dist/index.js", types: "./dist/index.d.ts" })

fs.writeFileSync(path.join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n")
for (const file of ["README.md", "LICENSE"]) fs.copyFileSync(path.join(here, "../..", file), path.join(out, file))
fs.cpSync(path.join(here, "../../grafana"), path.join(out, "grafana"), { recursive: true })

// Source maps inside the package, as in the Effect 3 one: each source a map names is copied to src/ in
// the package (only what was compiled: the Effect 3 port is not), and the map points there.
const repoSrc = path.join(here, "../../src")
for (const file of fs.readdirSync(path.join(out, "dist"), { recursive: true, encoding: "utf8" })) {
  if (!file.endsWith(".map")) continue
  const mapFile = path.join(out, "dist", file)
  const map = JSON.parse(fs.readFileSync(mapFile, "utf8"))
  map.sources = map.sources.map((source) => {
    const original = path.resolve(path.dirname(mapFile), map.sourceRoot ?? "", source)
    const inPackage = path.join(out, "src", path.relative(repoSrc, original))
    fs.mkdirSync(path.dirname(inPackage), { recursive: true })
    fs.copyFileSync(original, inPackage)
    return path.relative(path.dirname(mapFile), inPackage).split(path.sep).join("/")
  })
  map.sourceRoot = ""
  fs.writeFileSync(mapFile, JSON.stringify(map))
}

// The dashboard's page files are not compiled: dist/dashboard/internal/dashboardAssets.js reads them from
// src/dashboard at run time, as in the Effect 3 package.
for (const file of fs.readdirSync(path.join(repoSrc, "dashboard"))) {
  if (/\.(css|js)$/.test(file)) {
    fs.copyFileSync(path.join(repoSrc, "dashboard", file), path.join(out, "src/dashboard", file))
  }
}
console.log(
  `${path.relative(process.cwd(), out) || "."}: ${pkg.name}@${pkg.version}, ${Object.keys(exportsMap).length} subpaths`
)
