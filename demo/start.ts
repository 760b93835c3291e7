/**
 * `npm start`: the retry storm on real loopback HTTP, unprotected then protected, with a live
 * dashboard and a comparison table.
 */
import { effectVersion, eitherEffect } from "#port/demo"
import { Effect } from "effect"
import * as Cli from "./cli.js"
import * as Live from "./live.js"
import { runOn } from "./onEffect.js"
import { describeScenario, formatTable, tableRows } from "./results.js"
import * as Scenario from "./scenario.js"

const main = (argv: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const flags = yield* eitherEffect(Cli.parse("start", argv))
    if (flags.help) return yield* Effect.sync(() => process.stdout.write(Cli.startHelp)).pipe(Effect.as(0))
    // --effect 4 from this Effect 3 process: the same command in a child process on Effect 4.
    const child = yield* Effect.try({ try: () => runOn(flags.effect, import.meta.url, argv), catch: (error) => error })
    if (child !== undefined) return yield* Effect.promise(() => child)
    const scenario = Scenario.make({
      durationMillis: flags.durationSeconds === undefined ? undefined : flags.durationSeconds * 1000,
      rate: flags.rate
    })
    const tty = process.stdout.isTTY === true
    let lastPrinted = 0
    yield* Effect.sync(() => console.log(`breakwater demo (Effect ${effectVersion}): ${describeScenario(scenario)}\n`))
    yield* Effect.scoped(Effect.gen(function*() {
      const results = yield* Live.run({
        scenario,
        modes: Scenario.modes,
        dashboard: flags.dashboard ? { port: flags.port } : false,
        onDashboard: (url) =>
          console.log(`dashboard: ${url}  (live while the runs last${flags.keepOpen ? " and after" : ""})\n`),
        onProgress: (line) => {
          // A terminal gets one line kept up to date; a log gets a line every five seconds.
          if (tty) process.stdout.write(`\r${line}\u001b[K`)
          else if (Date.now() - lastPrinted >= 5000) {
            lastPrinted = Date.now()
            console.log(line)
          }
        }
      })
      if (tty) process.stdout.write("\r\u001b[K")
      console.log(`\n${formatTable(tableRows(results))}\n`)
      if (flags.keepOpen && flags.dashboard) {
        console.log("the dashboard stays up: Ctrl-C to stop")
        yield* Effect.never
      }
      return results
    }))
    return 0
  })

Effect.runPromise(main(process.argv.slice(2))).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof Error ? error.message : error)
    console.error("npm start -- --help lists the flags")
    process.exit(1)
  }
)
