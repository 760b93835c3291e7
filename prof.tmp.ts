import { Effect } from "effect"
import * as Dashboard from "./src/Dashboard.js"
import * as Health from "./src/Health.js"
import * as Registry from "./src/Registry.js"
Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const registry = yield* Registry.make()
  for (let i = 0; i < 1000; i++) yield* registry.circuitBreaker(`target-${i}.example.com`)
  const d = yield* Dashboard.make({ guards: registry.guards, history: 0 })
  let t = performance.now()
  for (let k = 0; k < 40; k++) {
    yield* d.document
    console.log("doc", performance.now() - t)
    t = performance.now()
  }
  for (let k = 0; k < 10; k++) {
    const h = yield* d.health
    Health.toJson(h)
    console.log("health", performance.now() - t)
    t = performance.now()
  }
})))
