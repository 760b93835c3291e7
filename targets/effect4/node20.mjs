// vitest 5 declares Node ^22.12 and calls Map.groupBy (Node 21+) when it reports a failure; on Node 20,
// which CI and this project's `engines` still allow, a failing test would crash the reporter and hide
// the failure. This preload adds the two ES2024 grouping functions only where they are missing.
if (typeof Map.groupBy !== "function") {
  Map.groupBy = (items, keyOf) => {
    const groups = new Map()
    let index = 0
    for (const item of items) {
      const key = keyOf(item, index++)
      const group = groups.get(key)
      if (group) group.push(item)
      else groups.set(key, [item])
    }
    return groups
  }
}
if (typeof Object.groupBy !== "function") {
  Object.groupBy = (items, keyOf) => Object.fromEntries(Map.groupBy(items, keyOf))
}
