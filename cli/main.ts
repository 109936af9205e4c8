#!/usr/bin/env node
// The AWS SDK warns about Node 20 on every client; our users run it deliberately.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

import { readFileSync } from 'node:fs'
import { EXIT } from './io.js'
import { stopSignals } from '../lib/util/signals.js'

/** Set by the build (tsup.config.ts, scripts/build-sea.mjs); undefined under tsx. */
declare const __HYDRATE_VERSION__: string | undefined

/**
 * `hydrate --version` and `hydrate --help` answer before yargs and the core load (they cost more
 * than Node's own start-up). The help was printed by this very CLI's yargs at build time, for the
 * two widths it wraps at without a narrow terminal; anything else takes the full path below.
 */
function fastAnswer(argv: readonly string[]): string | undefined {
  if (argv.length !== 1) return undefined
  if (argv[0] === '--version') return typeof __HYDRATE_VERSION__ === 'string' ? `${__HYDRATE_VERSION__}\n` : undefined
  if (argv[0] !== '--help' && argv[0] !== '-h') return undefined
  if (process.env.HYDRATE_NO_HELP_CACHE) return undefined
  const width = Math.min(110, process.stdout.columns || 100)
  try {
    return readFileSync(new URL(`help-${width}.txt`, import.meta.url), 'utf8')
  } catch {
    return undefined // not built (tsx, the standalone binary) or another width
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const fast = fastAnswer(argv)
  if (fast !== undefined) {
    // `hydrate --help | head -1`: the reader going away is no error, as on the full path.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error
    })
    process.stdout.write(fast)
    return
  }

  const controller = new AbortController()
  let signals = 0
  const onSignal = (name: NodeJS.Signals) => {
    signals++
    if (signals === 1) {
      process.stderr.write(`\nhydrate: ${name}: stopping after the writes in flight (press Ctrl-C again to exit at once)\n`)
      controller.abort(new Error(name))
    } else {
      process.exit(EXIT.interrupted)
    }
  }
  // SIGINT, SIGTERM; on Windows (no SIGTERM to receive there) also Ctrl-Break and a closed console.
  for (const name of stopSignals()) process.on(name, onSignal)
  // `hydrate ... | head`: when the reader goes away, stop reading and exit quietly, as grep does.
  let stdoutClosed = false
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
    stdoutClosed = true
    controller.abort(error)
  })

  // Loaded only now: yargs and the core are most of the start-up time.
  const { cli } = await import('./app.js')
  const code = await cli(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    signal: controller.signal,
    stdoutClosed: () => stdoutClosed,
  })
  // Let stdout drain before exiting (piping into head, jq, ...).
  process.exitCode = code
  if (process.stdout.writableNeedDrain && !stdoutClosed) process.stdout.once('drain', () => process.exit(code))
  else setImmediate(() => process.exit(code))
}

// Not a top-level await: the standalone binary runs this file bundled as CommonJS.
main().catch((error: unknown) => {
  process.stderr.write(`hydrate: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`)
  process.exit(EXIT.failures)
})
