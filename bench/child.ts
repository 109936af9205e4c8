// One measured run in its own process, so time and peak RSS belong to it alone.
// Usage: node --import tsx bench/child.ts <mode> <input> <output>
import { createReadStream, createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { run } from '../lib/run.js'
import { toJsonLines } from '../lib/json/write-lines.js'
import { readJsonArray } from '../lib/json/read-array.js'
import { readJsonLines } from '../lib/json/read-lines.js'
import { filter } from '../lib/stages/filter.js'

const [mode = '', input = '', output = '/dev/null'] = process.argv.slice(2)
const pattern = { source: ['orders'], 'detail-type': ['OrderPlaced'] }
const started = performance.now()
let count = 0

if (mode === 'bare' || mode === 'bare-pass') {
  // The baseline: read lines, JSON.parse each, the same check (none for bare-pass), write NDJSON.
  const pass = mode === 'bare-pass'
  const out = createWriteStream(output, { highWaterMark: 1 << 20 })
  const rl = createInterface({ input: createReadStream(input, { highWaterMark: 1 << 20 }), crlfDelay: Infinity })
  let buffer = ''
  for await (const line of rl) {
    if (!line) continue
    const e = JSON.parse(line)
    if (pass || (e.source === 'orders' && e['detail-type'] === 'OrderPlaced')) {
      buffer += JSON.stringify(e) + '\n'
      count++
      if (buffer.length > 1 << 16) {
        if (!out.write(buffer)) await once(out, 'drain')
        buffer = ''
      }
    }
  }
  out.end(buffer)
  await once(out, 'finish')
} else if (mode === 'ours' || mode === 'ours-noprefilter' || mode === 'ours-array' || mode === 'ours-noworker') {
  // ours-noworker: the default run with the lines found on the main thread too (workers: false).
  const source = mode === 'ours-array' ? readJsonArray(input) : readJsonLines(input, mode === 'ours-noworker' ? { workers: false } : {})
  const report = await run({ source, stages: [filter(pattern)], sink: toJsonLines(output), prefilter: mode !== 'ours-noprefilter' })
  count = report.sink.written
  if (report.status !== 'ok') throw new Error(`run ended ${report.status}`)
} else if (mode === 'ours-pass') {
  const report = await run({ source: readJsonLines(input), sink: toJsonLines(output) })
  count = report.sink.written
  if (report.status !== 'ok') throw new Error(`run ended ${report.status}`)
} else {
  throw new Error(`unknown mode ${mode}`)
}

const ms = performance.now() - started
process.stdout.write(JSON.stringify({ mode, ms, count, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n')
