// The signals that ask a run to stop, per platform, and how to end the process the way the signal
// would have. Windows has no SIGTERM to receive (`process.kill(pid, 'SIGTERM')` ends a process
// there at once, with no handler called): a run stops on Ctrl-C (SIGINT), Ctrl-Break (SIGBREAK)
// and closing the console window (SIGHUP, after which Windows ends the process about 10 s later).

/** Signal numbers for exit codes (128 + n, as shells report them). */
const NUMBERS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15, SIGBREAK: 21 }

/**
 * The signals that ask the process to stop: SIGINT and SIGTERM on POSIX; on Windows also SIGBREAK
 * (Ctrl-Break) and SIGHUP (the console window closed). Listening to SIGTERM there is harmless.
 *
 * @example
 * for (const name of stopSignals()) process.on(name, stop)
 */
export function stopSignals(platform: NodeJS.Platform = process.platform): NodeJS.Signals[] {
  return platform === 'win32' ? ['SIGINT', 'SIGTERM', 'SIGBREAK', 'SIGHUP'] : ['SIGINT', 'SIGTERM']
}

/**
 * The exit code of a process ended by `signal`, as a shell reports it: 128 + its number (130 for
 * SIGINT, 143 for SIGTERM, 149 for SIGBREAK).
 *
 * @example
 * signalExitCode('SIGINT') // 130
 */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (NUMBERS[signal] ?? NUMBERS.SIGINT!)
}

/**
 * Ends the process as `signal` would have without a handler, once the handler cleaned up: on POSIX
 * by raising it again (the parent sees the signal); on Windows, where `process.kill` cannot raise
 * SIGBREAK or SIGHUP (ENOSYS) and ends the process with code 1 for the others, by exiting with
 * {@link signalExitCode}.
 *
 * @example
 * process.on('SIGINT', () => { removeTempFiles(); endBySignal('SIGINT') })
 */
export function endBySignal(signal: NodeJS.Signals, platform: NodeJS.Platform = process.platform): void {
  if (platform === 'win32') process.exit(signalExitCode(signal))
  else process.kill(process.pid, signal)
}
