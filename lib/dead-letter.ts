import { once } from 'node:events'
import { createWriteStream, type WriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { HydratorError, errorMessage } from './errors.js'
import type { ItemFailure } from './types.js'
import { reviveTagged, stringifyTagged } from './util/tagged-json.js'

/** The marker property of a dead-letter line; readers unwrap such lines back to their event. */
export const DEAD_LETTER_MARK = '$eventHydratorDeadLetter'

/** One line of a dead-letter file. */
export interface DeadLetter {
  readonly [DEAD_LETTER_MARK]: 1
  readonly time: string
  readonly stage: string
  readonly code: string
  readonly message: string
  readonly position?: ItemFailure['position']
  readonly key?: unknown
  readonly attempts?: number
  /** The original event; absent for records that never became events (a line that is not JSON). */
  readonly event?: unknown
}

/**
 * If `value` is a dead-letter line with an event, that event (binary values written as
 * `{ "$binary": base64 }` read back as Uint8Arrays); else `value` itself.
 */
export function unwrapDeadLetter(value: Record<string, unknown>): Record<string, unknown> | undefined {
  if (value[DEAD_LETTER_MARK] !== 1) return value
  const event = value.event
  return event && typeof event === 'object' && !Array.isArray(event) ? (reviveTagged(event) as Record<string, unknown>) : undefined
}

/**
 * Writes every failed event to an NDJSON file, one per line, with its position, error code and
 * message, attempts and time. The file is itself a source: reading it yields the original events.
 * Memory stays flat: callers await `drained()` before reading on.
 *
 * @example
 * const dl = await openDeadLetters('failed.ndjson'); run({ ..., onFailure: dl.write }); await dl.close()
 */
export async function openDeadLetters(file: string): Promise<{ write: (failure: ItemFailure, event: unknown) => void; drained: () => Promise<void>; close: () => Promise<void>; count: () => number }> {
  try {
    await mkdir(path.dirname(path.resolve(file)), { recursive: true })
  } catch (error) {
    throw new HydratorError('ERR_FILE_NOT_FOUND', `--dead-letter: cannot create the folder of \`${file}\`: ${errorMessage(error)}`)
  }
  const stream: WriteStream = createWriteStream(file, { flags: 'a' })
  await once(stream, 'open').catch((error) => {
    throw new HydratorError('ERR_FILE_NOT_FOUND', `--dead-letter: cannot write \`${file}\`: ${errorMessage(error)}`)
  })
  let written = 0
  return {
    write(failure, event) {
      const letter: DeadLetter = {
        [DEAD_LETTER_MARK]: 1,
        time: new Date().toISOString(),
        stage: failure.stage,
        code: failure.code,
        message: failure.message,
        ...(failure.position ? { position: failure.position } : {}),
        ...(failure.key !== undefined ? { key: failure.key } : {}),
        ...(failure.attempts !== undefined ? { attempts: failure.attempts } : {}),
        ...(event !== undefined ? { event } : {}),
      }
      written++
      // Binary values (DynamoDB B attributes) as { "$binary": base64 }, so a replay gets the bytes back.
      stream.write(stringifyTagged(letter) + '\n')
    },
    drained: () => (stream.writableNeedDrain ? once(stream, 'drain').then(() => undefined) : Promise.resolve()),
    close: () => new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve()))),
    count: () => written,
  }
}
