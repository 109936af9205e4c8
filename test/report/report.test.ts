import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { formatReport } from '../../lib/report/format.js'
import { FormatRegistry } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { reportSchema } from '../../lib/report/schema.js'
import { run } from '../../lib/run.js'
import { collect } from '../../lib/collect.js'
import { readJsonLines } from '../../lib/json/read-lines.js'
import { filter } from '../../lib/stages/filter.js'
import { map } from '../../lib/stages/map.js'
import { events, ndjson, tempDir } from '../helpers.js'

const test = suite('the report: schema and text')

FormatRegistry.Set('date-time', (v) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v))

/** What a real JSON Schema validator (TypeBox's) says is wrong with a report; empty when valid. */
function validate(value: unknown): string[] {
  return [...Value.Errors(reportSchema, value)].map((e) => `${e.path}: ${e.message}`)
}

test('a report that does not add up to the schema is refused by it', () => {
  assert.ok(validate({ status: 'done' }).length > 0)
})

test('the published schema file is the exported schema', () => {
  const file = JSON.parse(readFileSync(new URL('../../docs/report.schema.json', import.meta.url), 'utf8'))
  assert.equal(file, JSON.parse(JSON.stringify(reportSchema)))
})

test('reports of ok, partial and failed runs validate against the schema', async () => {
  const tmp = await tempDir()
  try {
    const ok = await run({ source: readJsonLines(await tmp.file('a.ndjson', ndjson(events(20)))), stages: [filter({ source: ['orders'] })], sink: collect() })
    const partial = await run({ source: readJsonLines(await tmp.file('b.ndjson', ndjson(events(5)) + 'junk\n')), sink: collect() })
    const failed = await run({ source: readJsonLines(await tmp.file('c.ndjson', 'x\n'.repeat(10))), sink: collect(), maxFailures: 2 })
    const checkpointed = await run({
      source: readJsonLines(await tmp.file('d.ndjson', ndjson(events(5)) + 'junk\n')),
      stages: [map((e) => e, { onError: 'fail' })],
      sink: collect(),
      checkpoint: { file: `${tmp.dir}/d.ckpt`, identity: { source: 'd', filter: '', sink: 'collect' } },
    })
    assert.ok(checkpointed.checkpoint, 'a checkpointed run reports its checkpoint')
    for (const report of [ok, partial, failed, checkpointed]) {
      const json = JSON.parse(JSON.stringify(report))
      assert.equal(validate(json), [], report.status)
    }
    assert.equal([ok.status, partial.status, failed.status], ['ok', 'partial', 'failed'])
  } finally {
    await tmp.cleanup()
  }
})

test('the text summary names the counts, the failures and their places', async () => {
  const tmp = await tempDir()
  try {
    const report = await run({ source: readJsonLines(await tmp.file('t.ndjson', ndjson(events(6)) + '{bad\n'), { cwd: tmp.dir }), sink: collect() })
    const text = formatReport(report)
    assert.match(text, /^PARTIAL in/)
    assert.match(text, /7 read|6 read/)
    assert.match(text, /6 written, 0 skipped, 0 failed/)
    assert.match(text, /t\.ndjson:7: ERR_INVALID_JSON/)
  } finally {
    await tmp.cleanup()
  }
})

test.run()
