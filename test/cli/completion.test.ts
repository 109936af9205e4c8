// `hydrate completion`: yargs' bash and zsh scripts, and the answers they ask for on Tab
// (`hydrate --get-yargs-completions <words>`), including the main command's own options.
import { execFile } from 'node:child_process'
import { chmod } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import { captured, readableOf, tempDir } from '../helpers.js'

const run = promisify(execFile)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const test = suite('hydrate completion')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir('eh-completion-')
})
test.after(async () => {
  await tmp.cleanup()
})

async function hydrate(args: string[], env: Record<string, string | undefined> = {}) {
  const stdout = captured()
  const stderr = captured()
  const code = await cli(args, { stdout, stderr, stdin: readableOf(''), env: { ...process.env, SHELL: '/bin/bash', ...env }, cwd: root })
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

/** yargs picks the script by the process's $SHELL. */
async function withShell<T>(shell: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.SHELL
  process.env.SHELL = shell
  try {
    return await fn()
  } finally {
    if (saved === undefined) delete process.env.SHELL
    else process.env.SHELL = saved
  }
}

test('prints the bash script, and the zsh one under zsh', async () => {
  const bash = await withShell('/bin/bash', () => hydrate(['completion']))
  assert.is(bash.code, 0, bash.stderr)
  assert.match(bash.stdout, /complete -o bashdefault -o default -F _hydrate_yargs_completions hydrate/)
  assert.match(bash.stdout, /hydrate --get-yargs-completions/)
  const zsh = await withShell('/usr/bin/zsh', () => hydrate(['completion']))
  assert.is(zsh.code, 0, zsh.stderr)
  assert.match(zsh.stdout, /^#compdef hydrate/)
  assert.match(zsh.stdout, /compdef _hydrate_yargs_completions hydrate/)
})

test('completes the main command\'s options, subcommands and choices', async () => {
  const complete = async (...words: string[]) => (await hydrate(['--get-yargs-completions', 'hydrate', ...words])).stdout.trim().split('\n')
  assert.equal(await complete('--so'), ['--source', '--sort-memory'])
  assert.ok((await complete('--no-p')).includes('--no-prefilter'))
  assert.equal(await complete('--report', ''), ['text', 'json'])
  assert.equal(await complete('--order-missing', 'f'), ['fail', 'first'])
  assert.equal(await complete('pa'), ['pattern'])
  // --source was given already; --filter repeats.
  const next = await complete('--source', 'json:x', '--filter', 'a.json', '--')
  assert.not.ok(next.includes('--source'))
  assert.ok(next.includes('--filter') && next.includes('--sink') && next.includes('--help'))
  // Inside a subcommand, yargs' own answer.
  assert.equal(await complete('pattern', ''), ['check', 'test'])
})

test('under zsh each option comes with its description', async () => {
  const { stdout } = await hydrate(['--get-yargs-completions', 'hydrate', '--sin'], { SHELL: '/usr/bin/zsh' })
  assert.match(stdout, /^--sink:where events go: ndjson:/m)
})

// A bash session needs a POSIX system (the script itself is checked above everywhere).
const posix = process.platform !== 'win32'
;(posix ? test : test.skip)('bash completes through the script it was given', async () => {
  // `hydrate` on PATH is this repository's CLI, run by tsx.
  const bin = await tmp.file('bin/hydrate', `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} --import ${JSON.stringify(pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href)} ${JSON.stringify(path.join(root, 'cli/main.ts'))} "$@"\n`)
  await chmod(bin, 0o755)
  const env = { ...process.env, PATH: `${path.dirname(bin)}:${process.env.PATH}`, SHELL: '/bin/bash' }
  const script = 'source <(hydrate completion); COMP_WORDS=(hydrate --dry); COMP_CWORD=1; _hydrate_yargs_completions; printf "%s\\n" "${COMPREPLY[@]}"'
  const { stdout } = await run('bash', ['-c', script], { cwd: root, env, encoding: 'utf8' })
  assert.is(stdout.trim(), '--dry-run')
})

test.run()
