/**
 * The test files that measure real time (latency medians, amplification ratios, heap growth, a browser's
 * timeline), for the vitest configs of both targets: they would read another worker's load as their own,
 * so each config runs them after the others, one at a time.
 */
export const timingSensitive = [
  "test/dashboard/DashboardLoad.test.ts",
  "test/dashboard/DashboardBrowser.e2e.test.ts",
  "test/demo/live.test.ts",
  "test/demo/dashboard.e2e.test.ts",
  "test/demo/soak.test.ts",
  "test/demo/effect4.live.test.ts",
  "test/Soak.test.ts",
  "test/bench.test.ts",
  // Outage detection, slot migration and breaker recovery on real sockets: timed by the real clock,
  // they failed in the two-worker group while the machine ran at a load of 12.
  "test/redis/rateLimiter.fault.test.ts",
  "test/redis/cluster.test.ts",
  "test/http/ResilientHttpClient.test.ts"
]
