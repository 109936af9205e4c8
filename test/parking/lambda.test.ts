process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import { LambdaClient } from '@aws-sdk/client-lambda'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate } from '../../lib/hydrate.js'
import { toLambda } from '../../lib/lambda/lambda.js'
import { isRunReport } from '../../lib/report/validate.js'
import { formatReport } from '../../lib/report/format.js'
import { ndjson, orderEvents, tempDir } from '../helpers.js'
import { startLambdaServer, type LambdaServer } from '../servers/lambda-server.js'

const LEDGER = path.resolve('test/parking/fixtures/ledger.mjs')
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }
const fast = { attempts: 2, minDelayMs: 1, maxDelayMs: 2 }

interface Ledger {
  applied: Map<string, number[]>
  failIds: Set<string>
  settings: { maxDelayMs: number; onEvent?: (event: any) => void }
  reset(options?: { maxDelayMs?: number }): void
}

let server: LambdaServer
let client: LambdaClient
let ledger: Ledger
let dir: Awaited<ReturnType<typeof tempDir>>

const test = suite('parking: Lambda')

test.before(async () => {
  ledger = (await import(pathToFileURL(LEDGER).href)) as Ledger
  server = await startLambdaServer({ functions: { ledger: { module: LEDGER } } })
  client = new LambdaClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 })
  dir = await tempDir('eh-park-')
})

test.after(async () => {
  client.destroy()
  await server.close()
  await dir.cleanup()
})

test.before.each(() => ledger.reset())

const lambda = () => toLambda({ client, functionName: 'ledger', concurrency: 4, orderKey: 'detail.aggregateId', retry: fast })
const lines = async (file: string) => (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
/** Seqs of aggregate `k` (of `keys`) in source order, from `from` on. */
const seqsOf = (k: number, keys: number, n: number, from = 0) => Array.from({ length: n }, (_, i) => i).filter((i) => i % keys === k && i >= from)

test('a failed event parks its key: the later events of the key wait in the dead-letter file, others go on', async () => {
  ledger.reset({ maxDelayMs: 3 })
  ledger.failIds.add('e11') // aggregate a1, seq 11
  const events = orderEvents(40, { keys: 5 })
  const source = await dir.file('events.ndjson', ndjson(events))
  const deadLetter = path.join(dir.dir, 'failed-1.ndjson')
  const report = await hydrate({ source: `json:${source}`, sink: lambda(), orderKey: 'detail.aggregateId', concurrency: 4, deadLetter })

  assert.ok(isRunReport(report), 'the report validates against its schema')
  assert.is(report.status, 'partial')
  assert.is(report.sink.written, 34)
  assert.is(report.sink.failed, 6, 'the failed event and the 5 parked behind it')
  assert.is(report.sink.parked, 5)
  assert.equal(report.sink.parkedKeys, ['a1'])
  assert.is(report.filter.matched, report.sink.written + report.sink.skipped + report.sink.failed)
  assert.equal(report.failures.samples.map((f) => f.code), ['ERR_FUNCTION_ERROR'], 'samples name the failure, not each parked event')
  assert.match(formatReport(report), /failures 6 \(5 parked\):/)
  assert.match(formatReport(report), /parked\s+5 of the failed: not sent, an earlier event of their key failed \(key "a1"\)/)

  // The target applied a1 up to the failure only; every other key whole, in order.
  assert.equal(ledger.applied.get('a1'), [1, 6])
  for (const k of [0, 2, 3, 4]) assert.equal(ledger.applied.get(`a${k}`), seqsOf(k, 5, 40))

  const letters = await lines(deadLetter)
  assert.equal(letters.map((l) => l.event.id), ['e11', 'e16', 'e21', 'e26', 'e31', 'e36'], 'the failed event first, then the parked ones in order')
  assert.is(letters[0].code, 'ERR_FUNCTION_ERROR')
  assert.is(letters[0].orderKey, 'a1')
  for (const l of letters.slice(1)) {
    assert.is(l.code, 'ERR_PARKED')
    assert.is(l.orderKey, 'a1')
    assert.is(l.parkedBehind.id, 'e11')
    assert.is(l.parkedBehind.position.line, 12, 'the failed event is line 12 of the source')
  }

  // The handler is fixed: a redrive of the dead-letter file delivers a1's events in order, the failed one first.
  ledger.failIds.clear()
  const redrive = await hydrate({ source: `json:${deadLetter}`, sink: lambda(), orderKey: 'detail.aggregateId', concurrency: 4, deadLetter: path.join(dir.dir, 'failed-2.ndjson') })
  assert.is(redrive.status, 'ok')
  assert.is(redrive.sink.written, 6)
  assert.is(redrive.sink.parked, undefined)
  assert.equal(ledger.applied.get('a1'), seqsOf(1, 5, 40))
})

test('under concurrency 16 with random latency, each key is applied up to its first failure and the rest is in the file, in order', async () => {
  ledger.reset({ maxDelayMs: 2 })
  const n = 600
  const keys = 20
  const failing = [37, 52, 120, 121, 300, 301, 302, 444, 590] // keys 17, 12, 0, 1, 0 (again: after its failure), 1, 2, 4, 10
  for (const i of failing) ledger.failIds.add(`e${i}`)
  const source = await dir.file('stress.ndjson', ndjson(orderEvents(n, { keys })))
  const deadLetter = path.join(dir.dir, 'stress-dl.ndjson')
  const report = await hydrate({ source: `json:${source}`, sink: lambda(), orderKey: 'detail.aggregateId', concurrency: 16, deadLetter })
  const firstFailure = new Map<number, number>()
  for (const i of failing) if (!firstFailure.has(i % keys)) firstFailure.set(i % keys, i)
  const letters = await lines(deadLetter)
  for (let k = 0; k < keys; k++) {
    const all = seqsOf(k, keys, n)
    const first = firstFailure.get(k)
    const applied = first === undefined ? all : all.filter((i) => i < first)
    assert.equal(ledger.applied.get(`a${k}`) ?? [], applied, `a${k} applied up to its first failure`)
    const filed = letters.filter((l) => l.event.detail.aggregateId === `a${k}`)
    assert.equal(filed.map((l) => l.event.detail.seq), first === undefined ? [] : all.filter((i) => i >= first), `a${k} in the file in order, the failure first`)
    if (first !== undefined) {
      assert.is(filed[0].code, 'ERR_FUNCTION_ERROR')
      assert.ok(filed.slice(1).every((l) => l.code === 'ERR_PARKED' && l.parkedBehind.id === `e${first}`))
    }
  }
  assert.is(report.sink.failed, letters.length)
  assert.is(report.sink.parked, letters.length - firstFailure.size)
})

test('a redrive that fails again parks again, behind the same event', async () => {
  ledger.failIds.add('e2')
  const source = await dir.file('again.ndjson', ndjson(orderEvents(12, { keys: 2 })))
  const first = path.join(dir.dir, 'again-1.ndjson')
  await hydrate({ source: `json:${source}`, sink: lambda(), orderKey: 'detail.aggregateId', deadLetter: first })
  assert.equal(ledger.applied.get('a0'), [0])
  const second = path.join(dir.dir, 'again-2.ndjson')
  const report = await hydrate({ source: `json:${first}`, sink: lambda(), orderKey: 'detail.aggregateId', deadLetter: second })
  assert.is(report.sink.failed, 5)
  assert.is(report.sink.parked, 4)
  assert.equal((await lines(second)).map((l) => [l.event.id, l.code]), [
    ['e2', 'ERR_FUNCTION_ERROR'],
    ['e4', 'ERR_PARKED'],
    ['e6', 'ERR_PARKED'],
    ['e8', 'ERR_PARKED'],
    ['e10', 'ERR_PARKED'],
  ])
  assert.equal(ledger.applied.get('a0'), [0])
  assert.equal(ledger.applied.get('a1'), [1, 3, 5, 7, 9, 11], 'the other key ran whole on the first run, and is not in the file')
})

test('--on-key-failure continue sends the later events of a failed key', async () => {
  ledger.failIds.add('e11')
  const source = await dir.file('continue.ndjson', ndjson(orderEvents(40, { keys: 5 })))
  const deadLetter = path.join(dir.dir, 'continue-dl.ndjson')
  const report = await hydrate({ source: `json:${source}`, sink: lambda(), orderKey: 'detail.aggregateId', concurrency: 4, deadLetter, onKeyFailure: 'continue' })
  assert.is(report.sink.written, 39)
  assert.is(report.sink.failed, 1)
  assert.is(report.sink.parked, undefined)
  assert.equal(ledger.applied.get('a1'), seqsOf(1, 5, 40).filter((s) => s !== 11))
  assert.equal((await lines(deadLetter)).map((l) => l.event.id), ['e11'])
})

test('without a key nothing is parked: a Lambda sink without --order-key keeps no per-key order', async () => {
  ledger.failIds.add('e3')
  const source = await dir.file('nokey.ndjson', ndjson(orderEvents(10, { keys: 2 })))
  const report = await hydrate({ source: `json:${source}`, sink: toLambda({ client, functionName: 'ledger', retry: fast }) })
  assert.is(report.sink.written, 9)
  assert.is(report.sink.failed, 1)
  assert.is(report.sink.parked, undefined)
})

test('past --max-failed-keys the run stops with a clear error, and the failed keys stay parked', async () => {
  for (const id of ['e0', 'e1', 'e2']) ledger.failIds.add(id) // keys a0, a1, a2 of 10
  const source = await dir.file('limit.ndjson', ndjson(orderEvents(60, { keys: 10 })))
  const deadLetter = path.join(dir.dir, 'limit-dl.ndjson')
  const report = await hydrate({ source: `json:${source}`, sink: lambda(), orderKey: 'detail.aggregateId', deadLetter, maxFailedKeys: 2 })
  assert.is(report.status, 'failed')
  assert.is(report.error?.code, 'ERR_TOO_MANY_FAILED_KEYS')
  assert.match(report.error!.message, /more than 2 keys failed/)
  assert.match(report.error!.message, /--max-failed-keys/)
  for (const k of ['a0', 'a1', 'a2']) assert.is(ledger.applied.get(k), undefined, `nothing of ${k} applied`)
  assert.ok(report.source.read < 60, 'the run stopped reading')
  assert.is(report.filter.matched, report.sink.written + report.sink.skipped + report.sink.failed)
})

test('a parked event counts as handled only once it is in the dead-letter file: without one it holds the checkpoint', async () => {
  ledger.failIds.add('e11')
  const source = await dir.file('held.ndjson', ndjson(orderEvents(40, { keys: 5 })))
  const held = await hydrate({ source: `json:${source}`, sink: lambda(), orderKey: 'detail.aggregateId', checkpoint: path.join(dir.dir, 'held.ckpt') })
  assert.is(held.sink.parked, 5)
  assert.is(held.checkpoint!.complete, false)
  assert.is(held.checkpoint!.held, 6, 'the failure and the 5 parked behind it')
  assert.ok(held.checkpoint!.position === undefined || (held.checkpoint!.position as { line: number }).line < 12, 'the mark stays before the failed event (line 12)')

  ledger.reset()
  ledger.failIds.add('e11')
  const deadLetter = path.join(dir.dir, 'kept-dl.ndjson')
  const kept = await hydrate({ source: `json:${source}`, sink: lambda(), orderKey: 'detail.aggregateId', checkpoint: path.join(dir.dir, 'kept.ckpt'), deadLetter })
  assert.is(kept.checkpoint!.complete, true, 'with the dead-letter file every event is handled')
  assert.equal(kept.checkpoint!.totals, { read: 40, matched: 40, unmatched: 0, written: 34, skipped: 0, failed: 6, sourceFailed: 0 })
})

test('a resumed run parks the keys the crashed run had failed, read back from its dead-letter file', async () => {
  ledger.failIds.add('e11') // a1
  const source = await dir.file('resume.ndjson', ndjson(orderEvents(200, { keys: 5 })))
  const deadLetter = path.join(dir.dir, 'resume-dl.ndjson')
  const checkpoint = path.join(dir.dir, 'resume.ckpt')
  const controller = new AbortController()
  ledger.settings.onEvent = (event) => {
    if (event.id === 'e30') controller.abort()
  }
  const first = await hydrate({ source: `json:${source}`, sink: lambda(), orderKey: 'detail.aggregateId', deadLetter, checkpoint, signal: controller.signal })
  assert.is(first.status, 'aborted')
  assert.ok(first.source.read < 100, 'the first run stopped early')
  assert.ok(first.checkpoint?.position, 'the first run left a checkpoint')
  ledger.settings.onEvent = undefined
  // The new run knows nothing of a1's failure but what the dead-letter file says.
  const second = await hydrate({ source: `json:${source}`, sink: lambda(), orderKey: 'detail.aggregateId', deadLetter, checkpoint })
  assert.is(second.status, 'partial')
  assert.ok(second.sink.parked! > 0)
  assert.is(second.sink.failed, second.sink.parked, 'in the second run a1 only parks')
  assert.equal(ledger.applied.get('a1'), [1, 6], 'no event of a1 after the failure, in either run')
  for (const k of [0, 2, 3, 4]) assert.equal(ledger.applied.get(`a${k}`), seqsOf(k, 5, 200))
  const ids = (await lines(deadLetter)).map((l) => l.event.id)
  assert.equal(ids, seqsOf(1, 5, 200, 11).map((i) => `e${i}`), 'the key in order across both runs, nothing twice')
})

test.run()
