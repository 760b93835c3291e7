/**
 * `npm run simulate`: the demo's scenario in virtual time; prints the table, writes the HTML report.
 */
import { eitherOrThrow } from "#port/demo"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "./cli.js"
import { runOn } from "./onEffect.js"
import * as Scenario from "./scenario.js"
import { simulate } from "./simulation.js"

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const flags = eitherOrThrow(Cli.parse("simulate", argv))
  if (flags.help) {
    process.stdout.write(Cli.simulateHelp)
    return 0
  }
  // --effect 4 from this Effect 3 process: the same command in a child process on Effect 4.
  const child = runOn(flags.effect, import.meta.url, argv)
  if (child !== undefined) return child
  const scenario = Scenario.make({
    durationMillis: (flags.durationSeconds ?? 600) * 1000,
    rate: flags.rate ?? 5,
    seed: flags.seed
  })
  const simulation = await simulate(scenario, flags.testClock ? "test" : "virtual")
  const out = flags.out ?? path.join("reports", "simulation.html")
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true })
  fs.writeFileSync(out, simulation.html)
  process.stdout.write(`${simulation.text}\nreport: ${out}\n`)
  return 0
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof Error ? error.message : error)
    console.error("npm run simulate -- --help lists the flags")
    process.exit(1)
  }
)
