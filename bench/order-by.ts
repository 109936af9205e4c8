// npx tsx bench/order-by.ts [--events N] [--sort-memory 64MB]: `--order-by time` on shuffled NDJSON
// events against GNU sort (LC_ALL=C, the same memory with -S, --parallel=2) sorting the same lines by
// the same key, extracted beforehand into a leading column; and our peak RSS against --sort-memory.
// For scale, the same hydrate() run without --order-by: what reading and writing the events cost.
// What is measured is the built package (dist/, built first unless --no-build), as installed: under
// tsx a worker thread registers tsx again, which costs it tens of MB that no user's run pays.
import { execFileSync, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, mkdirSync, rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { makeEvent, rng } from './generate.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const arg = (name: string, fallback: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1]! : fallback)

// One measured run of hydrate() in a process of its own, plain node on the built package.
const CHILD = `
const [input, output, memory, temp] = process.argv.slice(1)
const { hydrate } = await import(${JSON.stringify(pathToFileURL(path.join(here, '..', 'dist', 'lib', 'index.js')).href)})
const started = performance.now()
const sorting = memory !== 'none' ? { orderBy: 'time', sortMemory: memory, tempDir: temp } : {}
const report = await hydrate({ source: 'json:' + input, sink: 'ndjson:' + output, ...sorting })
if (report.status !== 'ok') throw new Error('run ended ' + report.status + ': ' + JSON.stringify(report.error))
process.stdout.write(JSON.stringify({ ms: performance.now() - started, count: report.sink.written, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\\n')
`

if (!process.argv.includes('--no-build')) {
  console.error('building dist/ ...')
  execFileSync('npm', ['run', 'build'], { cwd: path.join(here, '..'), stdio: ['ignore', 'ignore', 'inherit'] })
}
const N = Number(arg('--events', '1000000'))
const memory = arg('--sort-memory', '64MB')
const memoryMB = Number(/^(\d+)/.exec(memory)![1])
const tmp = path.join(here, 'tmp', 'order-by')
rmSync(tmp, { recursive: true, force: true })
mkdirSync(path.join(tmp, 'spill'), { recursive: true })
const input = path.join(tmp, `shuffled-${N}.ndjson`)
const keyed = path.join(tmp, `keyed-${N}.tsv`)

console.error(`generating ${N.toLocaleString()} shuffled events ...`)
const order = Array.from({ length: N }, (_, i) => i)
const random = rng(42)
for (let i = N - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1))
  ;[order[i], order[j]] = [order[j]!, order[i]!]
}
const lines = createWriteStream(input, { highWaterMark: 1 << 20 })
const keys = createWriteStream(keyed, { highWaterMark: 1 << 20 })
const eventRandom = rng(7)
for (const i of order) {
  const line = JSON.stringify(makeEvent(i, eventRandom))
  if (!lines.write(line + '\n')) await once(lines, 'drain')
  if (!keys.write(`${JSON.parse(line).time}\t${line}\n`)) await once(keys, 'drain')
}
lines.end()
keys.end()
await Promise.all([once(lines, 'finish'), once(keys, 'finish')])

function gnuSort(): { ms: number; maxRssMB: number } {
  const started = performance.now()
  const r = spawnSync('/usr/bin/time', ['-f', '%M', 'sh', '-c', `LC_ALL=C sort -s -t '\t' -k1,1 -S ${memoryMB}M --parallel=2 -T '${tmp}/spill' '${keyed}' | cut -f2- > '${tmp}/sort.out'`], { encoding: 'utf8' })
  const ms = performance.now() - started
  if (r.status !== 0) throw new Error(`sort failed: ${r.stderr}`)
  return { ms, maxRssMB: Number(r.stderr.trim().split('\n').pop()) / 1024 }
}

function ours(sortMemory = memory): { ms: number; count: number; maxRssMB: number } {
  const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', CHILD, input, sortMemory === 'none' ? `${tmp}/plain.out` : `${tmp}/ours.out`, sortMemory, `${tmp}/spill`], { encoding: 'utf8', env })
  return JSON.parse(out.trim().split('\n').pop()!)
}

const best = <T extends { ms: number }>(runs: T[]) => runs.sort((a, b) => a.ms - b.ms)[0]!
const sortRuns = [gnuSort(), gnuSort()]
const ourRuns = [ours(), ours()]
const plainRuns = [ours('none'), ours('none')]
const s = best(sortRuns)
const o = best(ourRuns)
const p = best(plainRuns)
console.error(`sort ${sortRuns.map((r) => r.ms.toFixed(0)).join('/')} ms; ours ${ourRuns.map((r) => `${r.ms.toFixed(0)} ms ${r.maxRssMB.toFixed(0)} MB`).join(', ')}; without --order-by ${plainRuns.map((r) => r.ms.toFixed(0)).join('/')} ms`)
if (o.count !== N) throw new Error(`wrote ${o.count} of ${N}`)
// cmp, not readFileSync: 10,000,000 events are past what one Buffer holds.
const same = spawnSync('cmp', ['-s', `${tmp}/sort.out`, `${tmp}/ours.out`]).status === 0
const mb = (statSync(input).size / 2 ** 20).toFixed(0)
console.log(`| scenario | baseline | event-hydrator | ratio |\n|---|---:|---:|---:|`)
console.log(`| ${N.toLocaleString()} shuffled events (${mb} MB) --order-by time -> NDJSON, --sort-memory ${memory}, vs GNU sort -S ${memoryMB}M --parallel=2 (best of 2) | ${s.ms.toFixed(0)} ms | ${o.ms.toFixed(0)} ms | ${(o.ms / s.ms).toFixed(2)} |`)
console.log(`| peak RSS vs --sort-memory ${memory} (target: + 150 MB) | ${memoryMB} MB | ${Math.max(...ourRuns.map((r) => r.maxRssMB)).toFixed(0)} MB | ${(Math.max(...ourRuns.map((r) => r.maxRssMB)) - memoryMB).toFixed(0)} MB over |`)
console.log(`| GNU sort's own peak RSS | | ${s.maxRssMB.toFixed(0)} MB | |`)
console.log(`| for scale: the same run without --order-by (read, parse, serialize, write; best of 2) | ${s.ms.toFixed(0)} ms | ${p.ms.toFixed(0)} ms, peak RSS ${Math.max(...plainRuns.map((r) => r.maxRssMB)).toFixed(0)} MB | ${(p.ms / s.ms).toFixed(2)} |`)
console.log(`\noutput byte-identical to sort's: ${same}`)
rmSync(tmp, { recursive: true, force: true })
