import { errorCode, errorMessage, type HydratorError } from '../errors.js'
import { redactSecrets } from '../util/redact.js'
import { capText } from '../util/text.js'
import type { RunStatus, StageCount } from './schema.js'

/** One stage's running counts, kept by run(). */
export interface StageCounter {
  name: string
  kind: string
  in: number
  out: number
  /** Events the stage failed (a transform that threw). */
  failed: number
}

/**
 * Works out what the filters kept: each stage's `in` is the previous one's `out` (the first one's
 * is what was read), and what a filter or map dropped is unmatched. Batches, take and tap drop
 * nothing; a stage that put out more than it took in fans out, and then `matched` cannot be checked
 * against the sink's counts.
 */
export function countStages(counters: StageCounter[], read: number, prefiltered: number): { matched: number; unmatched: number; fanOut: boolean; stages: StageCount[] } {
  for (let i = 0; i < counters.length; i++) counters[i]!.in = i === 0 ? read : counters[i - 1]!.out
  let unmatched = prefiltered
  let fanOut = false
  for (const c of counters) {
    if (c.kind === 'batch' || c.kind === 'take' || c.kind === 'tap') continue
    if (c.out + c.failed > c.in) fanOut = true
    else unmatched += c.in - c.out - c.failed
  }
  const stages = counters.map((c) => ({ name: c.name, kind: c.kind, in: c.in, out: c.out, ...(c.failed > 0 ? { failed: c.failed } : {}) }))
  return { matched: read + prefiltered - unmatched, unmatched, fanOut, stages }
}

/** How a run ended, and why it stopped when it did not end on its own. */
export function runStatus(why: {
  readonly tooMany?: HydratorError
  /** Stopped from outside the chain: the dead-letter file or the checkpoint lock. */
  readonly fatal?: unknown
  /** Thrown by the chain (source, stage or sink). */
  readonly error?: unknown
  readonly aborted: boolean
  readonly failures: number
}): { status: RunStatus; error?: { code: string; message: string } } {
  const stop = (e: unknown) => ({ code: errorCode(e), message: capText(redactSecrets(errorMessage(e))) })
  if (why.tooMany) return { status: 'failed', error: { code: why.tooMany.code, message: why.tooMany.message } }
  if (why.fatal !== undefined) return { status: 'failed', error: stop(why.fatal) }
  if (why.error) return { status: why.aborted ? 'aborted' : 'failed', error: stop(why.error) }
  if (why.aborted) return { status: 'aborted', error: { code: 'ERR_ABORTED', message: 'the run was stopped before the end of the source' } }
  return { status: why.failures > 0 ? 'partial' : 'ok' }
}
