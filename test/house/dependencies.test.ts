// The shape of the house, checked rather than written down: the import rules of
// .dependency-cruiser.cjs (integrations import the core, never each other; the core imports no
// integration; lib never imports cli; no cycles).
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const test = suite('the house: import rules')

test('dependency-cruiser finds no broken import rule and no cycle in lib/ and cli/', () => {
  let output = ''
  let failed = false
  try {
    output = execFileSync(process.execPath, [path.join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'), 'lib', 'cli', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
  } catch (error) {
    failed = true
    output = String((error as { stdout?: string }).stdout ?? '') + String((error as { stderr?: string }).stderr ?? '')
  }
  assert.not.ok(failed, `dependency rules broken:\n${output}`)
  assert.match(output, /no dependency violations found/)
})

test.run()
