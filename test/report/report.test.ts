import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { formatReport } from '../../lib/report/format.js'
import { reportSchema } from '../../lib/report/schema.js'
import { run } from '../../lib/run.js'
import { collect } from '../../lib/collect.js'
import { readJsonLines } from '../../lib/json/read-lines.js'
import { filter } from '../../lib/stages/filter.js'
import { events, ndjson, tempDir } from '../helpers.js'

const test = suite('the report: schema and text')

/** A small validator for the subset of JSON Schema the report schema uses. */
function validate(schema: any, value: unknown, path = '$', defs = schema.$defs): string[] {
  if (schema.$ref) return validate(defs[schema.$ref.split('/').pop()], value, path, defs)
  const errors: string[] = []
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${path}: ${String(value)} not in enum`)
  const type = schema.type
  if (type === 'object') {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: expected object`]
    for (const key of schema.required ?? []) if (!(key in value)) errors.push(`${path}.${key}: missing`)
    if (schema.additionalProperties === false) {
      for (const key of Object.keys(value)) if (!(key in (schema.properties ?? {}))) errors.push(`${path}.${key}: not in the schema`)
    }
    for (const [key, sub] of Object.entries(schema.properties ?? {})) {
      if (key in value) errors.push(...validate(sub, (value as any)[key], `${path}.${key}`, defs))
    }
    if (typeof schema.additionalProperties === 'object') {
      for (const [key, v] of Object.entries(value)) errors.push(...validate(schema.additionalProperties, v, `${path}.${key}`, defs))
    }
  } else if (type === 'array') {
    if (!Array.isArray(value)) return [`${path}: expected array`]
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${path}: too many items`)
    if (schema.items) value.forEach((v, i) => errors.push(...validate(schema.items, v, `${path}[${i}]`, defs)))
  } else if (type === 'integer') {
    if (!Number.isInteger(value) || (schema.minimum !== undefined && (value as number) < schema.minimum)) errors.push(`${path}: expected integer >= ${schema.minimum}`)
  } else if (type === 'number') {
    if (typeof value !== 'number') errors.push(`${path}: expected number`)
  } else if (type === 'string') {
    if (typeof value !== 'string') errors.push(`${path}: expected string`)
  } else if (type === 'boolean') {
    if (typeof value !== 'boolean') errors.push(`${path}: expected boolean`)
  }
  return errors
}

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
    for (const report of [ok, partial, failed]) {
      const json = JSON.parse(JSON.stringify(report))
      assert.equal(validate(reportSchema, json), [], report.status)
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
