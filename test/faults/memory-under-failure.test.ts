// Memory under failure: a run in which every event fails keeps flat memory (failure samples are
// capped; the dead-letter file holds them all).
import { execFileSync } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { tempDir } from '../helpers.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const BIG = process.env.FULL ? 1_000_000 : 300_000
const SMALL = 30_000
const test = suite('faults: memory when every event fails')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir()
})
test.after(async () => {
  await tmp.cleanup()
})

async function writeEvents(file: string, n: number) {
  const out = createWriteStream(file)
  let chunk = ''
  for (let i = 0; i < n; i++) {
    chunk += `{"id":"e${i}","source":"orders","detail":{"version":"not a number ${i}","aggregateId":"a${i % 1000}"}}\n`
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain')
      chunk = ''
    }
  }
  out.end(chunk)
  await once(out, 'finish')
}

// Every event fails in the sink's prepare(): a --plugin sink with a mapping whose version is not a number.
const script = `
import { run, readJsonLines, defineSink, compileMapping, openDeadLetters } from '${root}/lib/index.ts'
const [input, dl] = process.argv.slice(-2)
const mapping = compileMapping({ columns: { id: 'detail.aggregateId', version: 'detail.version' }, key: ['id'], versionColumn: 'version' })
const sink = defineSink({ uri: 'reject:', prepare: (e) => mapping.toRow(e), write: async (b) => b.map(() => ({ status: 'written' })) }, { batchSize: 100 })
const letters = await openDeadLetters(dl)
const report = await run({ source: readJsonLines(input), sink, onFailure: letters.write, backpressure: letters.drained })
await letters.close()
process.stdout.write(JSON.stringify({ failed: report.sink.failed, samples: report.failures.samples.length, rss: process.resourceUsage().maxRSS / 1024 }))
`

function measure(input: string, dl: string) {
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, input, dl], { cwd: root, encoding: 'utf8' })
  return JSON.parse(out) as { failed: number; samples: number; rss: number }
}

test(`${BIG.toLocaleString()} failing events use about the memory of ${SMALL.toLocaleString()}`, async () => {
  const small = path.join(tmp.dir, 'small.ndjson')
  const big = path.join(tmp.dir, 'big.ndjson')
  await writeEvents(small, SMALL)
  await writeEvents(big, BIG)
  const a = measure(small, path.join(tmp.dir, 'dl-small.ndjson'))
  const b = measure(big, path.join(tmp.dir, 'dl-big.ndjson'))
  assert.is(a.failed, SMALL)
  assert.is(b.failed, BIG)
  assert.is(b.samples, 100)
  assert.ok((await stat(path.join(tmp.dir, 'dl-big.ndjson'))).size > BIG * 100, 'every failure is in the dead-letter file')
  assert.ok(b.rss < a.rss * 1.25 + 10, `peak RSS ${b.rss.toFixed(0)} MB for ${BIG} vs ${a.rss.toFixed(0)} MB for ${SMALL}`)
})

test('waiting for the dead-letter file to drain leaves no listener behind, however often it is asked', async () => {
  const { openDeadLetters } = await import('../../lib/dead-letter.js')
  const file = path.join(tmp.dir, 'drain.ndjson')
  const letters = await openDeadLetters(file)
  const big = 'x'.repeat(64 * 1024)
  // A listener left behind per wait shows as Node's MaxListenersExceededWarning.
  const warnings: string[] = []
  const onWarning = (w: Error) => warnings.push(w.name)
  process.on('warning', onWarning)
  let waits = 0
  for (let i = 0; i < 200; i++) {
    void letters.write({ stage: 'test', code: 'ERR_TRANSFORM', message: 'failed' }, { i, pad: big })
    const wait = letters.drained?.()
    if (wait) {
      waits++
      // Asked again and again while the buffer is full: one shared wait.
      for (let j = 0; j < 20; j++) void letters.drained?.()
      await wait
    }
  }
  assert.ok(waits > 10, `the buffer filled ${waits} times`)
  await letters.close()
  await new Promise((r) => setImmediate(r))
  process.off('warning', onWarning)
  assert.equal(warnings.filter((w) => w === 'MaxListenersExceededWarning'), [])
  assert.ok((await stat(file)).size > 200 * 64 * 1024)
})

test.run()
