// npx tsx bench/core.ts [--events N]: the foundation scenarios, as ratios against baselines measured
// in the same run. Integration benchmarks (postgres, dynamo, opensearch, lambda, patterns) live in
// their own files and run here when their servers are available.
import { execFileSync, spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateFile } from './generate.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const tmp = path.join(here, 'tmp')
const argEvents = process.argv.indexOf('--events')
const N = argEvents > 0 ? Number(process.argv[argEvents + 1]) : 1_000_000
const SMALL = 50_000
const repeats = 3

function child(mode: string, input: string, output = '/dev/null') {
  const out = execFileSync(process.execPath, ['--import', 'tsx', path.join(here, 'child.ts'), mode, input, output], { encoding: 'utf8', env: { ...process.env } })
  return JSON.parse(out.trim().split('\n').pop()!) as { ms: number; count: number; maxRssMB: number }
}

function best(mode: string, input: string) {
  const runs = Array.from({ length: repeats }, () => child(mode, input, path.join(tmp, `${mode}.out.ndjson`)))
  return runs.sort((a, b) => a.ms - b.ms)[0]!
}

mkdirSync(tmp, { recursive: true })
const big = path.join(tmp, `events-${N}.ndjson`)
const small = path.join(tmp, `events-${SMALL}.ndjson`)
const bigArray = path.join(tmp, `array-${N}.json`)
const smallArray = path.join(tmp, `array-${SMALL}.json`)
console.error(`generating ${N.toLocaleString()} events ...`)
await generateFile(big, N)
await generateFile(small, SMALL)
await generateFile(bigArray, N, { array: true })
await generateFile(smallArray, SMALL, { array: true })

const rows: string[][] = []
const bare = best('bare', big)
const ours = best('ours', big)
const noPre = best('ours-noprefilter', big)
const noWorker = best('ours-noworker', big)
if (ours.count !== bare.count || noPre.count !== bare.count || noWorker.count !== bare.count) throw new Error(`counts differ: bare ${bare.count}, ours ${ours.count}, no prefilter ${noPre.count}, no worker ${noWorker.count}`)
rows.push([`${N.toLocaleString()} events NDJSON -> filter(source, detail-type) -> NDJSON, prefilter (default: lines found on a worker thread)`, `${bare.ms.toFixed(0)} ms`, `${ours.ms.toFixed(0)} ms`, (ours.ms / bare.ms).toFixed(2)])
rows.push([`same, lines found on the main thread too (workers: false)`, `${bare.ms.toFixed(0)} ms`, `${noWorker.ms.toFixed(0)} ms`, (noWorker.ms / bare.ms).toFixed(2)])
rows.push([`same, --no-prefilter (every line parsed)`, `${bare.ms.toFixed(0)} ms`, `${noPre.ms.toFixed(0)} ms`, (noPre.ms / bare.ms).toFixed(2)])

// A JSON array of the same events, split at the byte level: against NDJSON with every line parsed
// (an array cannot be prefiltered), and against its own streaming-parser reading (?path=) before.
const arrayBest = best('ours-array', bigArray)
if (arrayBest.count !== bare.count) throw new Error(`counts differ: array ${arrayBest.count}, bare ${bare.count}`)
rows.push([`${N.toLocaleString()} events, one JSON array -> the same filter -> NDJSON, vs the same events as NDJSON (--no-prefilter)`, `${noPre.ms.toFixed(0)} ms`, `${arrayBest.ms.toFixed(0)} ms`, (arrayBest.ms / noPre.ms).toFixed(2)])

// jq, the tool users would reach for instead (Debian's package), when it is installed.
function jq(filter: string, input: string): number | undefined {
  let bestMs: number | undefined
  for (let i = 0; i < repeats; i++) {
    const fd = openSync(path.join(tmp, 'jq.out.ndjson'), 'w')
    const started = performance.now()
    const r = spawnSync('jq', ['-c', filter, input], { stdio: ['ignore', fd, 'ignore'] })
    const ms = performance.now() - started
    closeSync(fd)
    if (r.error || r.status !== 0) return undefined
    bestMs = Math.min(bestMs ?? Infinity, ms)
  }
  return bestMs
}
const jqSelect = jq('select(.source == "orders" and .["detail-type"] == "OrderPlaced")', big)
const barePass = best('bare-pass', big)
const oursPass = best('ours-pass', big)
rows.push([`${N.toLocaleString()} events NDJSON -> NDJSON, nothing to filter (pass-through)`, `${barePass.ms.toFixed(0)} ms`, `${oursPass.ms.toFixed(0)} ms`, (oursPass.ms / barePass.ms).toFixed(2)])
const jqPass = jq('.', big)
if (jqSelect !== undefined && jqPass !== undefined) {
  rows.push([`jq -c 'select(source, detail-type)', the same filter, for comparison`, `${bare.ms.toFixed(0)} ms`, `${jqSelect.toFixed(0)} ms (ours ${ours.ms.toFixed(0)} ms)`, `${(jqSelect / bare.ms).toFixed(2)} (ours ${(ours.ms / bare.ms).toFixed(2)})`])
  rows.push([`jq -c '.', the pass-through, for comparison`, `${barePass.ms.toFixed(0)} ms`, `${jqPass.toFixed(0)} ms (ours ${oursPass.ms.toFixed(0)} ms)`, `${(jqPass / barePass.ms).toFixed(2)} (ours ${(oursPass.ms / barePass.ms).toFixed(2)})`])
} else console.error('jq is not installed (apt-get install jq): its rows are left out')

const defBig = child('ours', big)
const defSmall = child('ours', small)
rows.push([`peak RSS, the scenario above (default run): ${N.toLocaleString()} vs ${SMALL.toLocaleString()} events`, `${defSmall.maxRssMB.toFixed(0)} MB`, `${defBig.maxRssMB.toFixed(0)} MB`, (defBig.maxRssMB / defSmall.maxRssMB).toFixed(2)])
const memBig = child('ours-noprefilter', big)
const memSmall = child('ours-noprefilter', small)
rows.push([`peak RSS, NDJSON with every line parsed (--no-prefilter): ${N.toLocaleString()} vs ${SMALL.toLocaleString()} events`, `${memSmall.maxRssMB.toFixed(0)} MB`, `${memBig.maxRssMB.toFixed(0)} MB`, (memBig.maxRssMB / memSmall.maxRssMB).toFixed(2)])
// The plateau: does memory keep growing past N? (the 50k run ends before the heap reaches its working size)
const huge = path.join(tmp, `events-${3 * N}.ndjson`)
await generateFile(huge, 3 * N)
const memHuge = child('ours-noprefilter', huge)
rmSync(huge, { force: true })
rows.push([`peak RSS, NDJSON with every line parsed: ${(3 * N).toLocaleString()} vs ${N.toLocaleString()} events`, `${memBig.maxRssMB.toFixed(0)} MB`, `${memHuge.maxRssMB.toFixed(0)} MB`, (memHuge.maxRssMB / memBig.maxRssMB).toFixed(2)])
const arrBig = child('ours-array', bigArray)
const arrSmall = child('ours-array', smallArray)
rows.push([`peak RSS, one JSON array (${(statSync(bigArray).size / 2 ** 20).toFixed(0)} MB): ${N.toLocaleString()} vs ${SMALL.toLocaleString()} events`, `${arrSmall.maxRssMB.toFixed(0)} MB`, `${arrBig.maxRssMB.toFixed(0)} MB`, (arrBig.maxRssMB / arrSmall.maxRssMB).toFixed(2)])
// The array's plateau too: 3N events in one array read with no more memory than N.
const hugeArray = path.join(tmp, `array-${3 * N}.json`)
await generateFile(hugeArray, 3 * N, { array: true })
const arrHuge = child('ours-array', hugeArray)
rmSync(hugeArray, { force: true })
rows.push([`peak RSS, one JSON array: ${(3 * N).toLocaleString()} vs ${N.toLocaleString()} events`, `${arrBig.maxRssMB.toFixed(0)} MB`, `${arrHuge.maxRssMB.toFixed(0)} MB`, (arrHuge.maxRssMB / arrBig.maxRssMB).toFixed(2)])

console.log(`\nMachine: ${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; best of ${repeats}\n`)
console.log('| scenario | baseline | event-hydrator | ratio |')
console.log('|---|---:|---:|---:|')
for (const r of rows) console.log(`| ${r.join(' | ')} |`)
rmSync(tmp, { recursive: true, force: true })
