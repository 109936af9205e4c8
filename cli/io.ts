import type { Readable, Writable } from 'node:stream'

/** What the CLI talks to; the real process in `main.ts`, buffers in tests. */
export interface CliIo {
  readonly stdout: Writable
  readonly stderr: Writable & { isTTY?: boolean }
  readonly stdin: Readable
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
  /** Aborted on SIGINT/SIGTERM. */
  readonly signal?: AbortSignal
}

export const EXIT = { ok: 0, failures: 1, usage: 2, interrupted: 130 } as const
