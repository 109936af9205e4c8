import type { Readable, Writable } from 'node:stream'

/** What the CLI talks to; the real process in `main.ts`, buffers in tests. */
export interface CliIo {
  readonly stdout: Writable
  readonly stderr: Writable & { isTTY?: boolean }
  readonly stdin: Readable
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
  /** Aborted on SIGINT/SIGTERM (on Windows also SIGBREAK, SIGHUP), and when stdout's reader went away. */
  readonly signal?: AbortSignal
  /** True once writing stdout failed with EPIPE (`hydrate ... | head`). */
  readonly stdoutClosed?: () => boolean
}

/** Exit codes: 141 is what a shell reports for a command stopped because its reader closed the pipe. */
export const EXIT = { ok: 0, failures: 1, usage: 2, interrupted: 130, brokenPipe: 141 } as const
