import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import type { CliIo } from '../../cli/io.js'
import type { RunReport } from '../../lib/report/report.js'
import { captured, ndjson, orderEvents, readableOf, tempDir } from '../helpers.js'

const LEDGER = path.resolve('test/parking/fixtures/ledger.mjs')

interface Ledger {
  applied: Map<string, number[]>
  failIds: Set<string>
  reset(): void
}

let ledger: Ledger
let dir: Awaited<ReturnType<typeof tempDir>>

const test = suite('parking: the CLI')

test.before(async () => {
  ledger = (await import(pathToFileURL(LEDGER).href)) as Ledger
  dir = await tempDir('eh-park-cli-')
})

test.after(async () => {
  await dir.cleanup()
})

test.before.each(() => ledger.reset())

async function hydrate(args: string[]) {
  const stdout = captured()
  const stderr = captured()
  const io: CliIo = { stdout, stderr, stdin: readableOf(''), env: { ...process.env }, cwd: process.cwd() }
  const code = await cli(args, io)
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

test('lambda-local with --order-key parks by default; the summary says so; --on-key-failure continue does not', async () => {
  ledger.failIds.add('e4') // a0 of 4
  const source = await dir.file('events.ndjson', ndjson(orderEvents(20, { keys: 4 })))
  const deadLetter = path.join(dir.dir, 'dl.ndjson')
  const common = ['--source', `json:${source}`, '--sink', `lambda-local:${LEDGER}#handler`, '--order-key', 'detail.aggregateId', '--concurrency', '4']
  const parked = await hydrate([...common, '--dead-letter', deadLetter, '--report', 'json'])
  assert.is(parked.code, 1, 'failures exit 1')
  const report = JSON.parse(parked.stdout) as RunReport
  assert.is(report.sink.parked, 3)
  assert.equal(report.sink.parkedKeys, ['a0'])
  assert.match(parked.stderr, /parked\s+3 of the failed: not sent/)
  assert.match(parked.stderr, /failures 4 \(3 parked\):/)
  assert.equal(ledger.applied.get('a0'), [0])
  assert.equal((await readFile(deadLetter, 'utf8')).trim().split('\n').map((l) => JSON.parse(l).event.id), ['e4', 'e8', 'e12', 'e16'])

  ledger.reset()
  ledger.failIds.add('e4')
  const going = await hydrate([...common, '--on-key-failure', 'continue', '--report', 'json', '--quiet'])
  const goingReport = JSON.parse(going.stdout) as RunReport
  assert.is(goingReport.sink.parked, undefined)
  assert.equal(ledger.applied.get('a0'), [0, 8, 12, 16])
})

test('a bad --on-key-failure or --max-failed-keys is a usage error before anything is read', async () => {
  const bad = await hydrate(['--source', 'json:missing.ndjson', '--on-key-failure', 'skip'])
  assert.is(bad.code, 2)
  assert.match(bad.stderr, /on-key-failure/)
  const zero = await hydrate(['--source', 'json:missing.ndjson', '--max-failed-keys', '0'])
  assert.is(zero.code, 2)
  assert.match(zero.stderr, /maxFailedKeys.*--max-failed-keys.*>= 1/)
})

test.run()
