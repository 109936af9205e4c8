import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as assert from 'uvu/assert'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const env = {
  ...process.env,
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_REGION: 'us-east-1',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
}

/**
 * Runs the CLI from source in a child process; resolves with its exit code, -1 when killed, -2
 * when it hung for 5 minutes and was killed for it.
 * `killWhen` is polled every 10 ms: once it resolves true the child gets SIGKILL.
 */
export function hydrateChild(args: string[], killWhen?: () => Promise<boolean>): Promise<number | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args, '--quiet'], { cwd: root, stdio: 'ignore', env })
  // A child that hangs must fail the test, not hold the suite: killed after 5 minutes, it exits -2.
  let hung = false
  const guard = setTimeout(() => {
    hung = true
    child.kill('SIGKILL')
  }, 300_000)
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(guard)
      resolve(hung ? -2 : signal ? -1 : code)
    }),
  )
  if (killWhen) {
    void (async () => {
      for (let i = 0; i < 1000 && child.exitCode === null; i++) {
        if (await killWhen()) break
        await new Promise((r) => setTimeout(r, 10))
      }
      child.kill('SIGKILL')
    })()
  }
  return exited
}

/**
 * Runs `args(checkpoint)` until `started()` says the run is under way, waits `extraDelay` ms more,
 * kills it with SIGKILL, checks that the checkpoint is not complete, then resumes until it finishes.
 * Returns the checkpoint as the kill left it (undefined: none written yet).
 */
export async function crashAndResume(
  args: (checkpoint: string) => string[],
  checkpoint: string,
  started: () => Promise<boolean>,
  extraDelay: number,
  label: string,
): Promise<{ complete: boolean; position?: Record<string, unknown> } | undefined> {
  const first = await hydrateChild(args(checkpoint), async () => (await started()) && (await new Promise((r) => setTimeout(r, extraDelay)), true))
  assert.is(first, -1, `${label}: the first run was killed mid-run`)
  const saved = await readFile(checkpoint, 'utf8').then((t) => JSON.parse(t) as { complete: boolean; position?: Record<string, unknown> }, () => undefined)
  assert.ok(!saved?.complete, `${label}: the checkpoint at the kill is not complete`)
  let code = first
  for (let round = 0; code !== 0 && round < 5; round++) code = await hydrateChild(args(checkpoint))
  assert.is(code, 0, `${label}: the resumed run finished`)
  return saved
}
