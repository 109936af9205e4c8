import { CheckpointTracker, writeCheckpoint, type Checkpoint, type CheckpointIdentity, type CheckpointTotals } from './checkpoint.js'
import { HydratorError, errorCode, errorMessage, isConfigError } from './errors.js'
import { FailureSamples } from './report/failures.js'
import type { RunReport, RunStatus, StageCount } from './report/report.js'
import { newTally } from './sinks/define-sink.js'
import { sourceStats, type StatefulSource } from './sources/define-source.js'
import { stageInfo } from './stages/stage-info.js'
import type { ItemFailure, Sink, SinkResult, Source, SourceStats, Stage } from './types.js'
import { redactUri } from './util/options.js'

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
  /** Called for every failed event or record (dead letters, logs). */
  readonly onFailure?: (failure: ItemFailure, event: unknown) => void
  /** Called with a snapshot every `progressIntervalMs`. */
  readonly onProgress?: (progress: Progress) => void
  /** @default 1000 */
  readonly progressIntervalMs?: number
  /**
   * Record the low-water mark (the position up to which every event is fully handled) in this file,
   * atomically, every `intervalMs` and at the end. Resume with `readCheckpoint` + `resumeOptions`.
   */
  readonly checkpoint?: {
    readonly file: string
    readonly identity: CheckpointIdentity
    /** @default 5000 */
    readonly intervalMs?: number
    /** The checkpoint this run resumes from: its totals are carried over. */
    readonly previous?: Checkpoint
  }
  /** Awaited before each read while it returns a promise (dead-letter backpressure). */
  readonly backpressure?: () => Promise<void> | undefined
}

interface Counter {
  name: string
  kind: string
  in: number
  out: number
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

  // The raw-text prefilter: only for a filter that sees the source's events directly.
  const first = stages[0]
  const firstInfo = first ? stageInfo(first) : undefined
  if (options.prefilter !== false && firstInfo?.prefilter) {
    ;(source as StatefulSource<unknown>).usePrefilter?.(firstInfo.prefilter)
  }

  // Unreadable records go to onFailure (dead letters) like failed events, without an event, and
  // count towards maxFailures at once.
  ;(source as Partial<StatefulSource<unknown>>).addFailureListener?.((failure) => {
    options.onFailure?.(failure, undefined)
    checkFailures()
  })

  const counters: Counter[] = stages.map((stage) => {
    const info = stageInfo(stage)
    return { name: (stage as { name?: string }).name || 'stage', kind: info.kind, in: 0, out: 0 }
  })
  let seenSourceFailures = 0
  const holdsBack = counters.some((c) => c.kind !== 'filter' && c.kind !== 'map' && c.kind !== 'take' && c.kind !== 'tap')
  const tracker = options.checkpoint ? new CheckpointTracker(!holdsBack) : undefined

  async function* readSource() {
    let previous: unknown
    for await (const event of source) {
      if (tracker && previous !== undefined) tracker.passed(previous)
      previous = event
      const wait = options.backpressure?.()
      if (wait) await wait
      read++
      if (stats && stats.failed !== seenSourceFailures) {
        seenSourceFailures = stats.failed
        checkFailures()
      }
      yield event
      if (controller.signal.aborted) return
    }
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
  const needsWrapper = !stats || tracker !== undefined || options.backpressure !== undefined
  wrapped = needsWrapper
  let chain: AsyncIterable<unknown> = needsWrapper ? readSource() : source
  for (let i = 0; i < stages.length; i++) {
    chain = stages[i]!(chain)
    if (i < stages.length - 1 || tracker) chain = count(chain, counters[i]!)
  }
  if (tracker) chain = track(chain)

  // Checkpoints: written one at a time, periodically and at the end.
  const previousTotals = options.checkpoint?.previous?.totals
  let checkpointWrite: Promise<void> = Promise.resolve()
  const saveCheckpoint = (complete: boolean, final?: { matched: number; unmatched: number }) => {
    const ck = options.checkpoint
    if (!ck || !tracker) return Promise.resolve()
    const prefiltered = stats?.prefiltered ?? 0
    const here: CheckpointTotals = {
      read: readCount() + prefiltered,
      matched: final?.matched ?? tally.received,
      unmatched: final?.unmatched ?? Math.max(0, readCount() + prefiltered - tally.received),
      written: tally.written,
      skipped: tally.skipped,
      failed: tally.failed,
      sourceFailed: stats?.failed ?? 0,
    }
    const totals = { ...here }
    if (previousTotals) for (const k of Object.keys(totals) as (keyof CheckpointTotals)[]) totals[k] += previousTotals[k] ?? 0
    const position = tracker.position ?? options.checkpoint?.previous?.position
    const sinkState = (sink as { checkpointState?: () => unknown }).checkpointState?.()
    const data: Checkpoint = { version: 1, identity: ck.identity, ...(position ? { position } : {}), ...(sinkState !== undefined ? { sinkState } : {}), complete, totals, updatedAt: new Date().toISOString() }
    checkpointWrite = checkpointWrite.then(() => writeCheckpoint(ck.file, data))
    return checkpointWrite
  }
  const checkpointTimer = options.checkpoint && setInterval(() => void saveCheckpoint(false).catch(() => {}), options.checkpoint.intervalMs ?? 5000)
  checkpointTimer && checkpointTimer.unref()

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
      onSettled: tracker ? (events) => tracker.settled(events) : undefined,
      onFailure: (failure, event) => {
        samples.add(failure)
        options.onFailure?.(failure, event)
        checkFailures()
      },
    })
  } catch (e) {
    if (isConfigError(e) && tally.received === 0 && readCount() === 0) {
      cleanup()
      throw e
    }
    error = e
  }
  cleanup()
  function cleanup() {
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
    if (c.out > c.in) fanOut = true
    else unmatched += c.in - c.out
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
      message: `${missing} matched event(s) were not handled because the run stopped before they reached the sink`,
    })
  }

  const sourceFailures = sourceFailureSamples(source)
  const allSamples = [...sourceFailures, ...samples.samples].slice(0, samples.limit)
  const finished = Date.now()
  let status: RunStatus
  let stopError: { code: string; message: string } | undefined
  if (tooMany) {
    status = 'failed'
    stopError = { code: tooMany.code, message: tooMany.message }
  } else if (error) {
    status = userAborted ? 'aborted' : 'failed'
    stopError = { code: errorCode(error), message: errorMessage(error) }
  } else if (userAborted) {
    status = 'aborted'
    stopError = { code: 'ERR_ABORTED', message: 'the run was stopped before the end of the source' }
  } else {
    status = totalFailures() > 0 ? 'partial' : 'ok'
  }

  if (options.checkpoint) {
    await checkpointWrite.catch(() => {})
    await saveCheckpoint(status === 'ok' || status === 'partial', { matched, unmatched })
  }

  const stageCounts: StageCount[] = counters.map((c) => ({ name: c.name, kind: c.kind, in: c.in, out: c.out }))
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
      uri: result?.uri ?? sinkUriOf(sink),
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
  }
}

function sourceFailureSamples(source: unknown): readonly ItemFailure[] {
  return (source as { failures?: FailureSamples } | null)?.failures?.samples ?? []
}

function sinkUriOf(sink: unknown): string {
  return (sink as { uri?: string }).uri ?? (sink as { name?: string }).name ?? 'sink'
}
