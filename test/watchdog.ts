// Loaded before the test runner (`tsx --import ./test/watchdog.ts ...`): a run still going after
// TEST_WATCHDOG_MS (20 minutes by default; the whole suite takes about 3) has hung somewhere. It
// then says what is still open and exits 124, so CI fails in minutes with a clue instead of at its
// own time limit. The last suite name the runner printed says where.
const limitMs = Number(process.env.TEST_WATCHDOG_MS ?? 20 * 60_000)
const timer = setTimeout(() => {
  const open = process.getActiveResourcesInfo().join(', ')
  process.stderr.write(`\ntest watchdog: the tests still run after ${Math.round(limitMs / 60_000)} min; open resources: ${open}\n`)
  process.exit(124)
}, limitMs)
// It never keeps a finished run alive.
timer.unref()
