import { spawn, type ChildProcess } from 'node:child_process'
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

// Every child still running, so a failed test can end them in its `after` (killLeftovers).
const live = new Set<ChildProcess>()
function track(child: ChildProcess): void {
  live.add(child)
  child.on('exit', () => live.delete(child))
}

/** Sends SIGKILL to every CLI child started here that is still running; resolves once they exited. */
export async function killLeftovers(): Promise<number> {
  const children = [...live]
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve())
          if (!child.kill('SIGKILL') || child.exitCode !== null || child.signalCode !== null) resolve()
        }),
    ),
  )
  return children.length
}

/**
 * Runs the CLI from source in a child process; resolves with its exit code, -1 when killed, -2
 * when it hung for 5 minutes and was killed for it.
 * `killWhen` is polled every 10 ms: once it resolves true the child gets SIGKILL.
 */
export function hydrateChild(args: string[], killWhen?: () => Promise<boolean>): Promise<number | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args, '--quiet'], { cwd: root, stdio: 'ignore', env })
  track(child)
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

/** How a child started by {@link runChild} went. */
export interface ChildRun {
  /** The exit code; -1 when a signal ended it (`signal` says which), -2 when it hung 5 minutes. */
  readonly code: number
  /** The signal that ended the process, if one did (SIGKILL; the CLI handles SIGTERM itself). */
  readonly signal: NodeJS.Signals | null
  /** Whether `send` was sent while the child was still running. */
  readonly signalled: boolean
  /** Milliseconds from spawn until `underWay` first said true (undefined: it never did). */
  readonly underWayMs?: number
  /** Milliseconds from spawn until the signal was sent. */
  readonly signalMs?: number
  /** Milliseconds from spawn until the child exited. */
  readonly exitMs: number
  /** The last 4 KB the child wrote to stderr, for assertion messages. */
  readonly stderr: string
}

/**
 * Runs the CLI from source in a child process (`--quiet`, stderr kept). With `underWay`, polls it
 * every `pollMs` until it says true and records when; with `send`, then waits `delayMs` more and
 * sends that signal once. Resolves when the child exits. A child that hangs is killed after 5
 * minutes (code -2).
 *
 * @example
 * const run = await runChild(args, { underWay: async () => (await stat(out)).size > 0, send: 'SIGTERM', delayMs: 40 })
 * assert.is(run.code, 130)
 */
export function runChild(
  args: string[],
  options: { underWay?: () => Promise<boolean>; send?: NodeJS.Signals; delayMs?: number; pollMs?: number } = {},
): Promise<ChildRun> {
  const started = performance.now()
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args, '--quiet'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env })
  track(child)
  let stderr = ''
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4096)
  })
  let hung = false
  const guard = setTimeout(() => {
    hung = true
    child.kill('SIGKILL')
  }, 300_000)
  let exited = false
  let underWayMs: number | undefined
  let signalMs: number | undefined
  let signalled = false
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      exited = true
      clearTimeout(guard)
      resolve({ code, signal })
    }),
  )
  const watch = (async () => {
    if (!options.underWay) return
    const poll = options.pollMs ?? 10
    while (!exited) {
      // A failing probe (the table or file not there yet) means not under way.
      if (await options.underWay().catch(() => false)) {
        underWayMs = performance.now() - started
        break
      }
      await new Promise((r) => setTimeout(r, poll))
    }
    if (!options.send || exited) return
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs))
    if (exited || child.exitCode !== null) return
    signalMs = performance.now() - started
    signalled = child.kill(options.send)
  })()
  return done.then(async ({ code, signal }) => {
    const exitMs = performance.now() - started
    await watch
    return {
      code: hung ? -2 : signal ? -1 : (code ?? -1),
      signal,
      signalled,
      ...(underWayMs !== undefined ? { underWayMs } : {}),
      ...(signalMs !== undefined ? { signalMs } : {}),
      exitMs,
      stderr,
    }
  })
}
