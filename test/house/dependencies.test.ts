// The shape of the house, checked rather than written down: the import rules of
// .dependency-cruiser.cjs (integrations import the core, never each other; the core imports no
// integration; lib never imports cli; no cycles) and the size of the files in lib/.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const test = suite('the house: import rules and file sizes')

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

// Files that stay longer than ~400 lines because they are one concern, and why.
const ONE_CONCERN: Record<string, string> = {}

test('no file in lib/ grows past ~400 lines unless it is one concern (listed with its reason)', () => {
  const long: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name)
      if (statSync(full).isDirectory()) walk(full)
      else if (name.endsWith('.ts')) {
        const rel = path.relative(root, full)
        const lines = readFileSync(full, 'utf8').split('\n').length
        if (lines > 420 && !ONE_CONCERN[rel]) long.push(`${rel} (${lines} lines)`)
      }
    }
  }
  walk(path.join(root, 'lib'))
  assert.equal(long, [], `split these by concern, or list them in ONE_CONCERN with the reason:\n${long.join('\n')}`)
})

test.run()
