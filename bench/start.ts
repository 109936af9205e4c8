// Start-up of the installed command, hyperfine-style: each command run many times as a new
// process, the scenarios interleaved run by run (so load from elsewhere colours them alike),
// after warm-up runs; medians compared with `node -e 0` measured in the same loop.
//
//   npx tsx bench/start.ts [--runs 40]        (builds dist/ first when dist/cli/main.js is missing)
//
// The command measured is dist/cli/main.js, the file the package's `hydrate` bin links to; the
// standalone executable (dist-sea/hydrate, `npm run build:sea`) is measured when it is there.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const runsArg = process.argv.indexOf('--runs')
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 40
const warmup = 5
const main = path.join(root, 'dist/cli/main.js')
if (!existsSync(main)) execFileSync('npx', ['tsup'], { cwd: root, stdio: 'inherit' })

const tmp = mkdtempSync(path.join(os.tmpdir(), 'eh-bench-start-'))
const events = Array.from({ length: 100 }, (_, i) => JSON.stringify({ id: `e${i}`, source: i % 2 ? 'orders' : 'users', 'detail-type': 'X', detail: { i } })).join('\n') + '\n'
writeFileSync(path.join(tmp, 'events.ndjson'), events)

interface Scenario {
  readonly name: string
  readonly file: string
  readonly args: readonly string[]
  readonly env?: Record<string, string>
  /** Held to the 1.3x target. */
  readonly target?: boolean
}
const node = process.execPath
const scenarios: Scenario[] = [
  { name: 'node -e 0 (baseline)', file: node, args: ['-e', '0'] },
  { name: 'hydrate --version', file: node, args: [main, '--version'], target: true },
  { name: 'hydrate --help', file: node, args: [main, '--help'], target: true },
  { name: 'hydrate --help through yargs (HYDRATE_NO_HELP_CACHE=1; a terminal narrower than 100 columns)', file: node, args: [main, '--help'], env: { HYDRATE_NO_HELP_CACHE: '1' } },
  { name: 'hydrate --source json:events.ndjson (100 events) --filter ... --quiet', file: node, args: [main, '--source', 'json:events.ndjson', '--filter', '{"source":["orders"]}', '--quiet'] },
]
const sea = path.join(root, 'dist-sea', process.platform === 'win32' ? 'hydrate.exe' : 'hydrate')
if (existsSync(sea)) scenarios.push({ name: 'standalone executable --version (dist-sea/hydrate)', file: sea, args: ['--version'] })

const times = scenarios.map(() => [] as number[])
for (let i = 0; i < warmup + runs; i++) {
  scenarios.forEach((s, k) => {
    const started = process.hrtime.bigint()
    const r = spawnSync(s.file, s.args, { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...s.env } })
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    if (r.status !== 0) throw new Error(`${s.name} exited with ${r.status}: ${r.stderr}`)
    if (i >= warmup) times[k]!.push(ms)
  })
}
rmSync(tmp, { recursive: true, force: true })

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b)
const median = (xs: number[]) => {
  const s = sorted(xs)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)))
const base = median(times[0]!)

console.log(`Machine: ${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load ${os.loadavg()[0]!.toFixed(1)}; Node ${process.version}; ${runs} runs each after ${warmup} warm-up, interleaved\n`)
console.log('| command | median | mean ± sd | min | ratio (medians) to `node -e 0` |')
console.log('|---|---:|---:|---:|---:|')
let missed = false
scenarios.forEach((s, k) => {
  const t = times[k]!
  const ratio = median(t) / base
  if (s.target && ratio > 1.3) missed = true
  console.log(`| ${s.name} | ${median(t).toFixed(1)} ms | ${mean(t).toFixed(1)} ± ${sd(t).toFixed(1)} ms | ${sorted(t)[0]!.toFixed(1)} ms | ${ratio.toFixed(2)}${s.target ? (ratio <= 1.3 ? ' (target 1.3: met)' : ' (target 1.3: MISSED)') : ''} |`)
})
process.exitCode = missed ? 1 : 0
