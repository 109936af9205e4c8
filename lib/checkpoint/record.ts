// The checkpoint record: what it holds, and its local file (atomic writes, identity checks).
import { randomBytes } from 'node:crypto'
import { unlinkSync, writeFileSync } from 'node:fs'
import { readFile, unlink, writeFile } from 'node:fs/promises'
import { HydratorError, errorMessage } from '../errors.js'
import type { CheckpointTotals } from './tracker.js'
import type { Position } from '../types.js'
import { parseTagged, stringifyTagged } from '../util/tagged-json.js'
import { capText } from '../util/text.js'
import { renameReplacing, renameReplacingSync } from '../util/rename.js'


/** What a checkpoint must match so it is never applied to a different run by mistake. */
export interface CheckpointIdentity {
  readonly source: string
  /** The filter, transform and limit: what decides which events reach the sink. */
  readonly filter: string
  readonly sink: string
  /**
   * The storage mapping (columns, key, version column, delete pattern, table): resuming with
   * another one would mix rows of two shapes in one table.
   */
  readonly mapping?: string
}

/** The content of a checkpoint file. */
export interface Checkpoint {
  readonly version: 1
  readonly identity: CheckpointIdentity
  /** Everything up to and including this position has been fully handled; undefined: nothing yet. */
  readonly position?: Position
  /** What the sink recorded for an exact resume (e.g. the NDJSON sink's byte length). */
  readonly sinkState?: unknown
  /** The source was read to the end and every event handled. */
  readonly complete: boolean
  /**
   * Totals over everything up to `position`, in this run and every earlier run resumed from this
   * checkpoint: what a resume will not read again. They add up: read = matched + unmatched,
   * matched = written + skipped + failed.
   */
  readonly totals: CheckpointTotals
  /**
   * Failed events (or unreadable records) that hold `position` back because they are in no
   * dead-letter file: a resume reads them again.
   */
  readonly held?: number
  readonly updatedAt: string
}

/**
 * Writes a checkpoint atomically: a temporary file beside it, then a rename, so a crash leaves the
 * old or the new checkpoint, never a torn one. On Windows a rename refused for a moment (the file
 * held by a scanner: EPERM, EACCES, EBUSY) is retried for up to 2 s (1 s for the sync form).
 * Binary values (DynamoDB B keys in a cursor) are written as `{ "$binary": base64 }` and read back
 * as Uint8Arrays.
 */
export async function writeCheckpoint(file: string, checkpoint: Checkpoint): Promise<void> {
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(temp, stringifyTagged(checkpoint, 2) + '\n')
  // Windows: a scanner holding the checkpoint for a moment fails the rename; it is retried, and a
  // rename that still fails leaves no temporary file behind (a write after every batch would pile them up).
  await renameReplacing(temp, file).catch(async (error: unknown) => {
    await unlink(temp).catch(() => {})
    throw error
  })
}

/**
 * {@link writeCheckpoint}, synchronously: for a checkpoint after every batch, which must be on disk
 * before the next batch is sent (an async write can fall behind several batches).
 */
export function writeCheckpointSync(file: string, checkpoint: Checkpoint): void {
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`
  writeFileSync(temp, stringifyTagged(checkpoint, 2) + '\n')
  try {
    renameReplacingSync(temp, file)
  } catch (error) {
    try {
      unlinkSync(temp)
    } catch {
      // already gone
    }
    throw error
  }
}

/**
 * Reads a checkpoint; undefined when the file does not exist. Throws ERR_CHECKPOINT_MISMATCH when it
 * belongs to another run (other source, filter or sink).
 *
 * @example
 * const ckpt = await readCheckpoint('run.ckpt', identity)
 * const source = readJsonLines('events.ndjson', resumeOptions(ckpt?.position))
 */
export async function readCheckpoint(file: string, identity: CheckpointIdentity): Promise<Checkpoint | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return undefined
  }
  return checkCheckpoint(parseCheckpoint(text, file), identity, file)
}

/** Parses a checkpoint's text; ERR_CHECKPOINT_MISMATCH when it is not one of this version. */
export function parseCheckpoint(text: string, where: string): Checkpoint {
  let checkpoint: Checkpoint
  try {
    checkpoint = parseTagged(text) as Checkpoint
  } catch (error) {
    throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `--checkpoint ${where}: not a checkpoint (${errorMessage(error)})`)
  }
  if (checkpoint?.version !== 1 || !checkpoint.identity) {
    throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `--checkpoint ${where}: not a checkpoint of this version`)
  }
  return checkpoint
}

/** Throws ERR_CHECKPOINT_MISMATCH when a checkpoint belongs to another run (other source, filter, sink, mapping or share). */
export function checkCheckpoint<C extends Checkpoint>(checkpoint: C, identity: CheckpointIdentity, where: string): C {
  for (const field of ['source', 'filter', 'sink', 'mapping'] as const) {
    const theirs = checkpoint.identity[field] ?? ''
    const ours = identity[field] ?? ''
    if (theirs !== ours) {
      throw new HydratorError(
        'ERR_CHECKPOINT_MISMATCH',
        `--checkpoint ${where} belongs to another run: its ${field} is \`${capText(theirs, 300) || '(none)'}\`, this run's is \`${capText(ours, 300) || '(none)'}\`. Use another checkpoint, or delete it to start over.`,
      )
    }
  }
  return checkpoint
}
