import { CheckpointTracker, lockCheckpoint, writeCheckpoint, writeCheckpointSync, type Checkpoint, type CheckpointIdentity, type CheckpointLock, type CheckpointTotals } from './checkpoint/index.js'
import { HydratorError, errorCode, errorMessage, isConfigError } from './errors.js'
import { FailureSamples } from './report/failures.js'
import type { RunCheckpoint, RunReport, RunStatus, StageCount } from './report/report.js'
import { newTally, sinkInfo } from './define-sink.js'
import { sourceStats, type StatefulSource } from './define-source.js'
import { stageInfo } from './stages/stage-info.js'
import type { ItemFailure, Sink, SinkResult, Source, SourceStats, Stage } from './types.js'
import { redactUri } from './util/options.js'
import { redactSecrets } from './util/redact.js'
import { capText } from './util/text.js'

/**
 * Where failed events are kept, usually the dead-letter file of {@link openDeadLetters}. A
 * checkpoint passes a failed event only once `write` resolved: a failure not stored holds the
 * checkpoint before it, so a resume reads it again.
 */
export interface FailureStore {
  /** Stores one failure with its event (undefined for a record that never became one). */
  write(failure: ItemFailure, event: unknown): Promise<void>
  /** Resolves when it can take more; run() waits for it before reading on. */
  drained?(): Promise<void>
}

/** A live snapshot for progress displays. */
export interface Progress {
  readonly read: number
  readonly matched: number
  readonly written: number
  readonly skipped: number
  readonly failed: number
  readonly bytesRead: number
  readonly bytesTotal?: number
  readonly elapsedMs: number
}

export interface RunOptions {
  /** Where events come from. */
  readonly source: Source<any>
  /** Stages in order: filter, map, take, ... */
  readonly stages?: readonly Stage<any, any>[]
  /** Where events go. */
  readonly sink: Sink<any>
  /** Read and filter for real; write nothing; report what would be written. @default false */
  readonly dryRun?: boolean
  /** Stops the run gracefully: reading stops, in-flight writes finish, status `aborted`. */
  readonly signal?: AbortSignal
  /** Stop with status `failed` after this many failures (source and sink together). @default Infinity */
  readonly maxFailures?: number
  /**
   * Stop with status `failed` when more than this share (0..1) of the events read so far failed,
   * checked once at least 100 events were read (`--max-failures 5%`).
   */
  readonly maxFailureRate?: number
  /** Apply a leading filter's raw-text prefilter in line sources. @default true */
  readonly prefilter?: boolean
  /** The source URI for the report when the source does not know it. */
  readonly sourceUri?: string
  /** Called for every failed event or record (logs, metrics); see `deadLetter` to keep them. */
  readonly onFailure?: (failure: ItemFailure, event: unknown) => void
  /**
   * Keeps every failed event (the dead-letter file). If storing one fails, the run stops with that
   * error, and the checkpoint never passes the events that were not stored.
   */
  readonly deadLetter?: FailureStore
  /** The sink URI for the report when the sink does not say (passwords are redacted). */
  readonly sinkUri?: string
  /** Called with a snapshot every `progressIntervalMs`. */
  readonly onProgress?: (progress: Progress) => void
  /** @default 1000 */
  readonly progressIntervalMs?: number
  /**
   * Record the low-water mark (the position up to which every event is fully handled: written,
   * skipped, dropped by a filter, or failed and stored in `deadLetter`) in this file, atomically,
   * every `intervalMs` and at the end. Resume with `readCheckpoint` + `resumeOptions`. Only one run
   * holds a checkpoint at a time (`lockCheckpoint`); a second one is refused with
   * ERR_CHECKPOINT_LOCKED before anything is read.
   */
  readonly checkpoint?: {
    readonly file: string
    readonly identity: CheckpointIdentity
    /** Milliseconds between writes; 0 writes only after every batch the sink settles. @default 5000 */
    readonly intervalMs?: number
    /**
     * Also write after every batch the sink settles, before it sends the next one, so a hard kill
     * repeats at most the batches in flight (for appends and invocations, which a repeat applies
     * twice). @default false, or the sink's `checkpointEveryBatch`
     */
    readonly everyBatch?: boolean
    /** The checkpoint this run resumes from: its totals are carried over. */
    readonly previous?: Checkpoint
    /** The lock, when the caller took it before reading `previous`; run() takes one otherwise, and releases the one it took. */
    readonly lock?: CheckpointLock
  }
  /** Awaited before each read while it returns a promise (dead-letter backpressure). */
  readonly backpressure?: () => Promise<void> | undefined
}

interface Counter {
  name: string
  kind: string
  in: number
  out: number
  /** Events the stage failed (a transform that threw). */
  failed: number
}

/**
 * Runs a chain (source, stages, sink) to the end and resolves with a {@link RunReport} that
 * accounts for every event read: matched or not, and written, skipped or failed. Events reach the
 * sink in source order. Data problems are counted, not thrown; the run rejects only for
 * configuration problems (a missing file or table, a bad option) found before or while starting.
 *
 * @example
 * const report = await run({ source: readJsonLines('events.ndjson'), stages: [filter(rule)], sink: toJsonLines('out.ndjson') })
 * if (report.status !== 'ok') process.exitCode = 1
 */
export async function run(options: RunOptions): Promise<RunReport> {
  const { source, sink } = options
  const stages = options.stages ?? []
  if (!source || typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', 'run() needs a `source`: an async iterable of events')
  }
  if (typeof sink !== 'function') throw new HydratorError('ERR_INVALID_OPTION', 'run() needs a `sink` function')
  for (const [i, stage] of stages.entries()) {
    if (typeof stage !== 'function') throw new HydratorError('ERR_INVALID_OPTION', `stage ${i} is not a function`)
  }
  const maxFailures = options.maxFailures ?? Infinity
  const maxFailureRate = options.maxFailureRate
  const dryRun = options.dryRun ?? false
  const ck = options.checkpoint
  const ownLock = ck && !ck.lock ? await lockCheckpoint(ck.file) : undefined
  const lock = ck?.lock ?? ownLock
  const started = Date.now()
  const controller = new AbortController()
  let userAborted = false
  const onUserAbort = () => {
    userAborted = true
    controller.abort(options.signal?.reason)
  }
  if (options.signal?.aborted) onUserAbort()
  else options.signal?.addEventListener('abort', onUserAbort, { once: true })

  const stats: SourceStats | undefined = sourceStats(source)
  const samples = new FailureSamples()
  const tally = newTally()
  let tooMany: HydratorError | undefined
  // An error that stops the run from outside the chain: the dead-letter file or the checkpoint lock.
  let fatal: unknown
  const stopWith = (error: unknown) => {
    if (fatal !== undefined) return
    fatal = error
    controller.abort(error)
  }
  let read = 0
  // Without a wrapper around the source (the fast path), the source's own stats count reads.
  let wrapped = true
  const readCount = () => (wrapped ? read : stats!.read)

  const totalFailures = () => (stats?.failed ?? 0) + tally.failed
  const checkFailures = () => {
    if (tooMany) return
    const failures = totalFailures()
    if (failures > maxFailures) {
      tooMany = new HydratorError('ERR_TOO_MANY_FAILURES', `stopped after ${failures} failures (--max-failures is ${maxFailures})`)
    } else if (maxFailureRate !== undefined) {
      const seen = readCount() + (stats?.failed ?? 0)
      if (seen >= 100 && failures / seen > maxFailureRate) {
        tooMany = new HydratorError('ERR_TOO_MANY_FAILURES', `stopped: ${failures} of ${seen} records failed, more than ${(maxFailureRate * 100).toFixed(1)}% (--max-failures)`)
      }
    }
    if (tooMany) controller.abort(tooMany)
  }

  const counters: Counter[] = stages.map((stage) => {
    const info = stageInfo(stage)
    return { name: (stage as { name?: string }).name || 'stage', kind: info.kind, in: 0, out: 0, failed: 0 }
  })
  let seenSourceFailures = 0
  const holdsBack = counters.some((c) => c.kind !== 'filter' && c.kind !== 'map' && c.kind !== 'take' && c.kind !== 'tap')
  const tracker = ck ? new CheckpointTracker(!holdsBack, options.deadLetter !== undefined) : undefined

  // Every failure goes through here: capped, kept in the dead-letter store (whose write tells the
  // checkpoint the event is safe), then reported to onFailure.
  const letters = new Set<Promise<void>>()
  const store = (failure: ItemFailure, event: unknown): Promise<void> | undefined => {
    if (!options.deadLetter) return undefined
    let stored: Promise<void>
    try {
      stored = options.deadLetter.write(failure, event)
    } catch (error) {
      stored = Promise.reject(error)
    }
    const settled = stored.then(
      () => {
        letters.delete(settled)
      },
      (error: unknown) => {
        letters.delete(settled)
        stopWith(error)
      },
    )
    letters.add(settled)
    return stored
  }
  // A target's own message may quote anything: capped, and stripped of anything like a password.
  const capped = (failure: ItemFailure): ItemFailure => {
    const message = capText(redactSecrets(capText(failure.message, 100_000)))
    return message === failure.message ? failure : { ...failure, message }
  }

  // The raw-text prefilter: only for a filter that sees the source's events directly.
  const first = stages[0]
  const firstInfo = first ? stageInfo(first) : undefined
  if (options.prefilter !== false && firstInfo?.prefilter) {
    ;(source as StatefulSource<unknown>).usePrefilter?.(firstInfo.prefilter)
  }

  // Unreadable records go to the dead-letter store like failed events, without an event, and count
  // towards maxFailures at once.
  ;(source as Partial<StatefulSource<unknown>>).addFailureListener?.((failure) => {
    const item = capped(failure)
    // (Stored first: `tracker?.` would skip evaluating its arguments without a checkpoint.)
    const stored = store(item, undefined)
    tracker?.sourceFailed(item.position, stats?.prefiltered ?? 0, stored)
    options.onFailure?.(item, undefined)
    checkFailures()
  })

  // Stages that fail single events (a transform that threw): counted as failed, never as unmatched.
  counters.forEach((counter, i) => {
    stageInfo(stages[i]).failures?.listen((failure, event) => {
      const item = capped(failure)
      counter.failed++
      tally.failed++
      samples.add(item)
      const stored = store(item, event)
      tracker?.stageFailed(stored)
      options.onFailure?.(item, event)
      checkFailures()
    })
  })

  async function* readSource() {
    for await (const event of source) {
      if (tracker) tracker.read(event, stats)
      const wait = options.deadLetter?.drained?.() ?? options.backpressure?.()
      if (wait) await wait
      read++
      if (stats && stats.failed !== seenSourceFailures) {
        seenSourceFailures = stats.failed
        checkFailures()
      }
      yield event
      if (controller.signal.aborted) return
    }
    // The source ended: the last event has moved past the stages too.
    tracker?.passed()
    if (stats && stats.failed !== seenSourceFailures) checkFailures()
  }

  async function* count(input: AsyncIterable<unknown>, counter: Counter) {
    const batches = counter.kind === 'batch'
    for await (const item of input) {
      counter.out += batches && Array.isArray(item) ? item.length : 1
      yield item
    }
  }

  async function* track(input: AsyncIterable<unknown>) {
    for await (const event of input) {
      tracker!.received(event)
      yield event
    }
  }

  // Every wrapper is an async hop per event: add one only when a feature needs it. A source with
  // live stats counts itself; the last stage's output is what the sink received.
  const needsWrapper = !stats || tracker !== undefined || options.backpressure !== undefined || options.deadLetter?.drained !== undefined
  wrapped = needsWrapper
  let chain: AsyncIterable<unknown> = needsWrapper ? readSource() : source
  for (let i = 0; i < stages.length; i++) {
    chain = stages[i]!(chain)
    if (i < stages.length - 1 || tracker) chain = count(chain, counters[i]!)
  }
  if (tracker) chain = track(chain)

  // Checkpoints: one write at a time, periodically (or after every batch) and at the end; a write
  // asked for while one is under way is made once it is done.
  const previous = ck?.previous
  let checkpointError: unknown
  let lockLost = false
  let writing: Promise<void> | undefined
  let again = false
  const checkpointData = (complete: boolean, runTotals?: CheckpointTotals): Checkpoint => {
    const here = complete && runTotals ? runTotals : tracker!.totals
    const totals = { ...here }
    const before = previous?.totals
    if (before) for (const k of Object.keys(totals) as (keyof CheckpointTotals)[]) totals[k] += before[k] ?? 0
    const position = tracker!.position ?? previous?.position
    const sinkState = tracker!.hasSinkState ? tracker!.sinkState : previous?.sinkState
    const held = tracker!.heldForGood
    return {
      version: 1,
      identity: ck!.identity,
      ...(position ? { position } : {}),
      ...(sinkState !== undefined ? { sinkState } : {}),
      complete,
      totals,
      ...(held > 0 ? { held } : {}),
      updatedAt: new Date().toISOString(),
    }
  }
  const writeNow = async (data: Checkpoint) => {
    if (lockLost) return
    try {
      await lock?.verify()
    } catch (error) {
      lockLost = true
      stopWith(error)
      return
    }
    await writeCheckpoint(ck!.file, data).catch((error: unknown) => {
      checkpointError = error
    })
  }
  // After every batch: written at once, before the sink sends its next batch, so a hard kill can
  // repeat only what was in flight.
  const checkpointNow = () => {
    if (lockLost) return
    try {
      lock?.verifySync()
    } catch (error) {
      lockLost = true
      stopWith(error)
      return
    }
    try {
      writeCheckpointSync(ck!.file, checkpointData(false))
    } catch (error) {
      checkpointError = error
    }
  }
  const requestCheckpoint = () => {
    if (!tracker) return
    if (writing) {
      again = true
      return
    }
    writing = (async () => {
      do {
        again = false
        await writeNow(checkpointData(false))
      } while (again)
      writing = undefined
    })()
  }
  const intervalMs = ck?.intervalMs ?? 5000
  const afterBatch = ck !== undefined && (intervalMs === 0 || (ck.everyBatch ?? sinkInfo(sink).checkpointEveryBatch ?? false))
  // With writes after every batch, the timer writes the same way (an async write could land after
  // a later synchronous one and take the checkpoint back).
  const checkpointTimer = ck && intervalMs > 0 ? setInterval(afterBatch ? checkpointNow : requestCheckpoint, intervalMs) : undefined
  checkpointTimer?.unref()

  const timer =
    options.onProgress &&
    setInterval(() => {
      options.onProgress!({
        read: readCount() + (stats?.prefiltered ?? 0),
        matched: tally.received,
        written: tally.written,
        skipped: tally.skipped,
        failed: tally.failed + (stats?.failed ?? 0),
        bytesRead: stats?.bytesRead ?? 0,
        bytesTotal: stats?.bytesTotal,
        elapsedMs: Date.now() - started,
      })
    }, options.progressIntervalMs ?? 1000)
  timer && timer.unref()

  let result: SinkResult | undefined
  let error: unknown
  try {
    result = await sink(chain, {
      dryRun,
      signal: controller.signal,
      tally,
      onSettled: tracker
        ? (events, outcomes) => {
            tracker.settled(events, outcomes)
            if (afterBatch) checkpointNow()
          }
        : undefined,
      onFailure: (failure, event) => {
        const item = capped(failure)
        samples.add(item)
        const stored = store(item, event)
        tracker?.failed(event, stored)
        options.onFailure?.(item, event)
        checkFailures()
      },
    })
  } catch (e) {
    if (isConfigError(e) && tally.received === 0 && readCount() === 0) {
      await cleanup()
      throw e
    }
    error = e
  }
  // Every failure is stored (or known not to be) before the last checkpoint is written.
  while (letters.size > 0) await Promise.all(letters)
  await cleanup()
  async function cleanup() {
    if (timer) clearInterval(timer)
    if (checkpointTimer) clearInterval(checkpointTimer)
    options.signal?.removeEventListener('abort', onUserAbort)
  }

  // Tooling around the counts: every event read ends somewhere.
  if (!needsWrapper) read = stats!.read
  if (counters.length > 0 && !tracker) counters[counters.length - 1]!.out = tally.received
  for (let i = 0; i < counters.length; i++) counters[i]!.in = i === 0 ? read : counters[i - 1]!.out
  let unmatched = stats?.prefiltered ?? 0
  let fanOut = false
  for (const c of counters) {
    if (c.kind === 'batch' || c.kind === 'take' || c.kind === 'tap') continue
    if (c.out + c.failed > c.in) fanOut = true
    else unmatched += c.in - c.out - c.failed
  }
  const totalRead = read + (stats?.prefiltered ?? 0)
  const matched = totalRead - unmatched

  // Events that passed the filters but were never settled by the sink (the run stopped between).
  const settled = tally.written + tally.skipped + tally.failed
  if (!fanOut && matched > settled) {
    const missing = matched - settled
    tally.failed += missing
    samples.add({
      stage: 'run',
      code: 'ERR_NOT_HANDLED',
      message: `${missing} matched event(s) were not handled because the run stopped before they reached the sink${tracker ? ' (the checkpoint does not cover them: a resume reads them again)' : ''}`,
    })
  }

  const sourceFailures = sourceFailureSamples(source)
  const allSamples = [...sourceFailures, ...samples.samples].slice(0, samples.limit)
  let status: RunStatus
  let stopError: { code: string; message: string } | undefined
  if (tooMany) {
    status = 'failed'
    stopError = { code: tooMany.code, message: tooMany.message }
  } else if (fatal !== undefined) {
    status = 'failed'
    stopError = { code: errorCode(fatal), message: capText(redactSecrets(errorMessage(fatal))) }
  } else if (error) {
    status = userAborted ? 'aborted' : 'failed'
    stopError = { code: errorCode(error), message: capText(redactSecrets(errorMessage(error))) }
  } else if (userAborted) {
    status = 'aborted'
    stopError = { code: 'ERR_ABORTED', message: 'the run was stopped before the end of the source' }
  } else {
    status = totalFailures() > 0 ? 'partial' : 'ok'
  }

  let checkpointReport: RunCheckpoint | undefined
  if (ck && tracker) {
    while (writing) await writing
    const complete = (status === 'ok' || status === 'partial') && tracker.idle
    const runTotals: CheckpointTotals = {
      read: totalRead,
      matched,
      unmatched,
      written: tally.written,
      skipped: tally.skipped,
      failed: tally.failed,
      sourceFailed: stats?.failed ?? 0,
    }
    const data = checkpointData(complete, runTotals)
    await writeNow(data)
    if (lockLost && status !== 'failed') {
      status = 'failed'
      stopError = { code: errorCode(fatal), message: capText(errorMessage(fatal)) }
    }
    checkpointReport = {
      file: ck.file,
      ...(data.position ? { position: data.position } : {}),
      complete: data.complete,
      held: tracker.heldForGood,
      totals: data.totals,
      ...(checkpointError !== undefined ? { error: { code: errorCode(checkpointError), message: capText(errorMessage(checkpointError)) } } : {}),
    }
  }
  await ownLock?.release()

  const finished = Date.now()
  const stageCounts: StageCount[] = counters.map((c) => ({ name: c.name, kind: c.kind, in: c.in, out: c.out, ...(c.failed > 0 ? { failed: c.failed } : {}) }))
  return {
    status,
    dryRun,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationMs: finished - started,
    source: {
      uri: redactUri(stats?.uri ?? options.sourceUri ?? 'iterable'),
      read: totalRead,
      failed: stats?.failed ?? 0,
      ...(stats?.startedAt ? { startedAt: stats.startedAt } : {}),
    },
    filter: { matched, unmatched, prefiltered: stats?.prefiltered ?? 0 },
    sink: {
      uri: redactUri(result?.uri ?? options.sinkUri ?? sinkUriOf(sink)),
      received: tally.received,
      written: tally.written,
      skipped: tally.skipped,
      failed: tally.failed,
      deleted: result?.deleted ?? 0,
      previews: result?.previews ?? [],
      retries: { ...tally.retries },
    },
    failures: { count: totalFailures(), samples: allSamples },
    stages: stageCounts,
    eventsPerSecond: totalRead / Math.max((finished - started) / 1000, 0.001),
    ...(stopError ? { error: stopError } : {}),
    ...(checkpointReport ? { checkpoint: checkpointReport } : {}),
  }
}

function sourceFailureSamples(source: unknown): readonly ItemFailure[] {
  return (source as { failures?: FailureSamples } | null)?.failures?.samples ?? []
}

function sinkUriOf(sink: unknown): string {
  const uri = (sink as { uri?: unknown }).uri
  return typeof uri === 'string' ? uri : ((sink as { name?: string }).name || 'sink')
}
