#!/usr/bin/env node
// The AWS SDK warns about Node 20 on every client; our users run it deliberately.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

import { cli } from './app.js'
import { EXIT } from './io.js'
import { stopSignals } from '../lib/util/signals.js'

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

const code = await cli(process.argv.slice(2), {
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
