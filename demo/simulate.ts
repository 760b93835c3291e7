/**
 * `npm run simulate`: the demo's scenario in virtual time; prints the table, writes the HTML report.
 */
import { Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "./cli.js"
import * as Scenario from "./scenario.js"
import { simulate } from "./simulation.js"

const main = async (argv: ReadonlyArray<string>) => {
  const parsed = Cli.parse("simulate", argv)
  if (Either.isLeft(parsed)) throw parsed.left
  const flags = parsed.right
  if (flags.help) return void process.stdout.write(Cli.simulateHelp)
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
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error) => {
    console.error(error instanceof Error ? error.message : error)
    console.error("npm run simulate -- --help lists the flags")
    process.exit(1)
  }
)
