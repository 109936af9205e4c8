import { CheckpointTracker, fileSession, lockCheckpoint, type CheckpointSession, type CheckpointTotals } from './checkpoint/index.js'
import { CheckpointWriter } from './checkpoint/writer.js'
import { cappedFailure, PendingLetters } from './dead-letter.js'
import { HydratorError, errorCode, errorMessage, isConfigError } from './errors.js'
import { FailureSamples } from './report/failures.js'
import { countStages, runStatus, type StageCounter } from './report/tally.js'
import type { RunCheckpoint, RunReport } from './report/report.js'
import { newTally } from './define-sink.js'
import { parkingOf } from './park.js'
import { eventOf } from './raw-text.js'
import { adaptiveRate } from './stages/rate.js'
import type { ItemFailure, SinkResult, SourceStats } from './types.js'
import { redactUri } from './util/options.js'
import { capText } from './util/text.js'

import type { RunOptions } from './run-options.js'

export type { FailureStore } from './dead-letter.js'

export type { Progress, RunOptions } from './run-options.js'

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
  if (options.rate !== undefined && typeof options.rate?.summary !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', 'expected `rate` to be a rate controller (rateControl())')
  }
  const maxFailures = options.maxFailures ?? Infinity
  const controller = new AbortController()
  // An error that stops the run from outside the chain: the dead-letter file, the checkpoint lock,
  // too many failed keys (which carried-over keys can reach while the lock is being taken).
  let fatal: unknown
  const stopWith = (error: unknown) => {
    if (fatal !== undefined) return
    fatal = error
    controller.abort(error)
  }
  // Parking: the run's failed keys (lib/park.ts), bounded: past the limit the run stops.
  const parking = parkingOf(options, (error) => stopWith(error))
  const maxFailureRate = options.maxFailureRate
  const dryRun = options.dryRun ?? false
  const ck = options.checkpoint
  if (ck && !ck.session && !ck.file) throw new HydratorError('ERR_INVALID_OPTION', 'run(): `checkpoint` needs a `file` or a `session`')
  const ownLock = ck && !ck.session && !ck.lock ? await lockCheckpoint(ck.file!) : undefined
  const session: CheckpointSession | undefined = ck ? (ck.session ?? fileSession(ck.file!, ck.lock ?? ownLock, ck.previous, ownLock !== undefined)) : undefined
  const started = Date.now()
  let userAborted = false
  const onUserAbort = () => {
    userAborted = true
    controller.abort(options.signal?.reason)
  }
  if (options.signal?.aborted) onUserAbort()
  else options.signal?.addEventListener('abort', onUserAbort, { once: true })

  const stats: SourceStats | undefined = source.stats
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
    // Parked events follow from a failure already counted: they do not count towards the limit.
    const failures = totalFailures() - (tally.parked ?? 0)
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

  const counters: StageCounter[] = stages.map((stage) => {
    return { name: stage.name || 'stage', kind: stage.kind ?? 'other', in: 0, out: 0, failed: 0 }
  })
  let seenSourceFailures = 0
  const holdsBack = counters.some((c) => c.kind !== 'filter' && c.kind !== 'map' && c.kind !== 'take' && c.kind !== 'tap')
  const tracker = ck ? new CheckpointTracker(!holdsBack, options.deadLetter !== undefined) : undefined

  // Every failure goes through here: capped, kept in the dead-letter store (whose write tells the
  // checkpoint the event is safe), then reported to onFailure.
  const letters = new PendingLetters(options.deadLetter, stopWith)
  const store = (failure: ItemFailure, event: unknown) => letters.store(failure, event)
  const capped = cappedFailure

  // The raw-text prefilter: only for a filter that sees the source's events directly.
  const first = stages[0]
  if (options.prefilter !== false && first?.prefilter) source.usePrefilter?.(first.prefilter)
  // Events that reach a JSON-lines sink unchanged are written as the text they were read as.
  // And when nothing looks inside them either (no filter, no parking by an event's field), a source
  // that would parse them again (a sort's merge) hands on their text alone.
  if (sink.writesRawText && stages.every((stage) => stage.keepsEvents) && source.useRawText?.()) {
    if (sink.textOnly && stages.every((stage) => stage.blind) && !parking?.byOrderKey) source.useTextOnly?.()
  }

  // Unreadable records go to the dead-letter store like failed events, without an event, and count
  // towards maxFailures at once.
  source.addFailureListener?.((failure) => {
    const item = capped(failure)
    // (Stored first: `tracker?.` would skip evaluating its arguments without a checkpoint.)
    const stored = store(item, undefined)
    tracker?.sourceFailed(item.position, stats?.prefiltered ?? 0, stored)
    options.onFailure?.(item, undefined)
    checkFailures()
  })

  // Stages that fail single events (a transform that threw): counted as failed, never as unmatched.
  counters.forEach((counter, i) => {
    stages[i]!.failures?.listen((failure, given) => {
      const event = eventOf(given)
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

  async function* count(input: AsyncIterable<unknown>, counter: StageCounter) {
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
  if (options.rate && !dryRun) {
    // Growth follows the writes the target took, as every sink counts them in the tally.
    const rate = options.rate
    let took = 0
    const pacer = {
      get perSecond() {
        return rate.perSecond
      },
      sent(count: number) {
        rate.sent(count)
        const now = tally.written + tally.skipped
        if (now > took) rate.succeeded(now - took)
        took = now
      },
    }
    chain = adaptiveRate(pacer, { signal: controller.signal })(chain)
  }
  if (tracker) chain = track(chain)

  // Checkpoints: periodically, after every batch for sinks whose repeats apply twice, and at the end.
  const intervalMs = ck?.intervalMs ?? 5000
  const writer =
    ck && tracker
      ? new CheckpointWriter({
          session: session!,
          identity: ck.identity,
          tracker,
          intervalMs,
          everyBatch: intervalMs === 0 || (ck.everyBatch ?? sink.checkpointEveryBatch ?? false),
          onLockLost: stopWith,
        })
      : undefined

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
        ...(stats?.sort ? { sort: { ...stats.sort } } : {}),
        ...(options.rate ? { ratePerSecond: options.rate.perSecond } : {}),
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
      ...(options.rate && !dryRun ? { rate: options.rate } : {}),
      onSettled: tracker
        ? (events, outcomes) => {
            tracker.settled(events, outcomes)
            return writer!.afterBatch()
          }
        : undefined,
      onFailure: (failure, given) => {
        const event = eventOf(given)
        const item = capped(failure)
        samples.add(item)
        const stored = store(item, event)
        tracker?.failed(given, stored)
        options.onFailure?.(item, event)
        checkFailures()
      },
      ...(parking
        ? {
            parking,
            // A parked event is handled once its line is in the dead-letter file, like a failure.
            onParked: (failure: ItemFailure, given: unknown) => {
              const event = eventOf(given)
              const item = capped(failure)
              const stored = store(item, event)
              tracker?.failed(given, stored)
              options.onFailure?.(item, event)
            },
          }
        : {}),
    })
  } catch (e) {
    if (isConfigError(e) && tally.received === 0 && readCount() === 0) {
      await cleanup()
      throw e
    }
    error = e
  }
  // Every failure is stored (or known not to be) before the last checkpoint is written.
  await letters.settled()
  await cleanup()
  async function cleanup() {
    if (timer) clearInterval(timer)
    writer?.stop()
    options.signal?.removeEventListener('abort', onUserAbort)
  }

  // Tooling around the counts: every event read ends somewhere.
  if (!needsWrapper) read = stats!.read
  if (counters.length > 0 && !tracker) counters[counters.length - 1]!.out = tally.received
  const totalRead = read + (stats?.prefiltered ?? 0)
  const { matched, unmatched, fanOut, stages: stageCounts } = countStages(counters, read, stats?.prefiltered ?? 0)

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

  const sourceFailures = source.failures?.samples ?? []
  const allSamples = [...sourceFailures, ...samples.samples].slice(0, samples.limit)
  let { status, error: stopError } = runStatus({ tooMany, fatal, error, aborted: userAborted, failures: totalFailures() })

  let checkpointReport: RunCheckpoint | undefined
  if (writer && tracker) {
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
    checkpointReport = await writer.finish(complete, runTotals)
    if (writer.lockLost && status !== 'failed') {
      status = 'failed'
      stopError = { code: errorCode(fatal), message: capText(errorMessage(fatal)) }
    }
  }
  if (ownLock) await session!.release()

  const finished = Date.now()
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
      ...(stats?.workerThreads ? { workerThreads: stats.workerThreads } : {}),
    },
    filter: { matched, unmatched, prefiltered: stats?.prefiltered ?? 0 },
    sink: {
      uri: redactUri(result?.uri ?? options.sinkUri ?? sink.uri ?? (sink.name || 'sink')),
      received: tally.received,
      written: tally.written,
      skipped: tally.skipped,
      failed: tally.failed,
      deleted: result?.deleted ?? 0,
      previews: result?.previews ?? [],
      retries: { ...tally.retries },
      skippedBy: { ...tally.skippedBy },
      ...(result?.plan ? { plan: result.plan } : {}),
      ...(tally.parked ? { parked: tally.parked, parkedKeys: parking!.sampleKeys } : {}),
      ...(options.rate ? { rate: options.rate.summary() } : {}),
    },
    failures: { count: totalFailures(), samples: allSamples },
    stages: stageCounts,
    eventsPerSecond: totalRead / Math.max((finished - started) / 1000, 0.001),
    ...(stopError ? { error: stopError } : {}),
    ...(checkpointReport ? { checkpoint: checkpointReport } : {}),
  }
}
