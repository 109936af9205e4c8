// A CLI run killed with SIGKILL at several points, then resumed from its checkpoint, ends with the
// same NDJSON file as an uninterrupted run: nothing lost, nothing written twice.
import { spawn } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ndjson, events, tempDir } from '../helpers.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const COUNT = process.env.FULL ? 200_000 : 100_000
const test = suite('crash and resume: NDJSON sink')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir()
})
test.after(async () => {
  await tmp.cleanup()
})

function hydrate(args: string[], killAfterMs?: number): Promise<number | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: root, stdio: 'ignore' })
  if (killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), killAfterMs)
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)))
}

test('killed at several points and resumed, the output equals a clean run', async () => {
  const input = await tmp.file('in.ndjson', ndjson(events(COUNT, (i) => ({ pad: 'x'.repeat(i % 50) }))))
  const rule = '{"source":["orders","users"],"detail":{"version":[{"numeric":[">=",0]}]}}'
  const clean = `${tmp.dir}/clean.ndjson`
  assert.is(await hydrate(['--source', `json:${input}`, '--filter', rule, '--sink', `ndjson:${clean}`, '--quiet']), 0)
  const expected = await readFile(clean, 'utf8')
  for (const killAt of [900, 1500, 2200]) {
    const out = `${tmp.dir}/out-${killAt}.ndjson`
    const ck = `${tmp.dir}/run-${killAt}.ckpt`
    const args = ['--source', `json:${input}`, '--filter', rule, '--sink', `ndjson:${out}`, '--checkpoint', ck, '--checkpoint-interval', '100', '--quiet']
    const first = await hydrate([...args, '--batch-size', '500'], killAt)
    let code = first
    let rounds = 0
    while (code !== 0 && rounds++ < 5) code = await hydrate([...args, '--batch-size', '500'], rounds < 2 ? killAt : undefined)
    assert.is(code, 0)
    const got = await readFile(out, 'utf8')
    assert.is(got.length, expected.length, `kill at ${killAt} ms: same size`)
    assert.ok(got === expected, `kill at ${killAt} ms: same content`)
    const checkpoint = JSON.parse(await readFile(ck, 'utf8'))
    assert.is(checkpoint.complete, true)
    await rm(out)
  }
})

test.run()
