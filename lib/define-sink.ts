import { setImmediate as nextTurn } from 'node:timers/promises'
import { HydratorError, errorCode, errorMessage, isConfigError, type ErrorCode } from './errors.js'
import type { SettledEvent } from './checkpoint/tracker.js'
import { positionOf } from './position.js'
import { FailureSamples } from './report/failures.js'
import type { AbortOptions, ItemFailure, Outcome, Sink, SinkCapabilities, SinkContext, SinkPlan, SinkResult, SinkTally, SkipReason } from './types.js'
import { assertInteger } from './util/options.js'
import { capText } from './util/text.js'

/** How one write of a batch ended, in the order of the batch. */
export interface WriteOutcome {
  readonly status: Outcome
  /** For `failed`: a stable code (ERR_WRITE_REJECTED, ...) or the target's own (a SQLSTATE, an AWS error name). */
  readonly code?: ErrorCode | (string & {})
  /** For `failed`: the target's own message, naming the key. */
  readonly message?: string
  /** The key of the row or item, for the report. */
  readonly key?: unknown
  readonly attempts?: number
  /** The write was a delete (counted in `deleted` as well as `written`). */
  readonly deleted?: boolean
  /** For `skipped`: why (`stale`, `duplicateInBatch`, `deleteOfMissing`, ...). */
  readonly reason?: SkipReason
  /**
   * What the sink needs to resume exactly just after this event (the NDJSON sink: the file's
   * length after its line); a checkpoint records the state of the last event it covers.
   */
  readonly state?: unknown
}

/**
 * True for an error that means the target cannot take any more writes (a full disk, a closed
 * output): the run stops with it instead of failing every later event the same way.
 */
export function stopsRun(error: unknown): boolean {
  return isConfigError(error) || (error instanceof HydratorError && error.code === 'ERR_OUTPUT')
}

/**
 * What a driver gets besides its batch. `signal` is set for `open()` only: once a write has started
 * it always finishes (a stopped run lets writes in flight end, so none is turned into a failure).
 */
export interface DriverContext extends AbortOptions {
  readonly dryRun: boolean
  /** Count a retry under a reason, e.g. `ProvisionedThroughputExceededException`. */
  readonly retried: (reason: string) => void
}

/**
 * The part of a sink that knows its target. `defineSink` adds the rest: batching, batches in
 * flight, per-key order, dry runs and previews, counting, failure samples and abort handling.
 */
export interface SinkDriver<In, W> {
  /** The target's URI for the report, password redacted. */
  readonly uri: string
  /** Checks the target before any event is read (table exists, columns exist); throws a HydratorError. */
  open?(context: DriverContext): Promise<void>
  /** Turns an event into a write; a thrown error fails only this event (e.g. ERR_MAPPING). */
  prepare?(event: In): W
  /** A string key: two in-flight batches never share one, so writes to a key stay in order. */
  keyOf?(write: W): string | undefined
  /** The size of a write in bytes, for `maxBatchBytes`. */
  sizeOf?(write: W): number
  /**
   * Writes a batch, resolving with one outcome per write in batch order. Retries passing errors
   * itself; a rejection fails the whole batch (or the run, for configuration errors).
   */
  write(batch: readonly W[], context: DriverContext): Promise<readonly WriteOutcome[]>
  /** What a dry run shows for a write. @default the write itself */
  preview?(write: W): unknown
  /**
   * Dry runs that show a plan: reads the target's current state for the writes of a batch (read-only
   * queries) and says, per write in batch order, what the real write would do. Without it a dry run
   * counts every write as written. The driver keeps the planned state of the keys it planned (in a
   * {@link PlanOverlay}) so a key planned again is judged against that, as the real run would be.
   */
  plan?(batch: readonly W[], context: DriverContext): Promise<readonly PlannedWrite[]>
  /** False once the plan's overlay forgot keys (see {@link PlanOverlay}). @default true */
  planIsExact?(): boolean
  /** Releases connections; called once, also after errors. */
  close?(): Promise<void>
}

/** What the real write of one event would do, as a dry run found it. */
export type PlannedWrite =
  | { readonly op: 'insert' | 'update' | 'delete'; readonly key?: unknown; readonly current?: unknown; readonly next?: unknown }
  | { readonly op: 'skip'; readonly reason: SkipReason; readonly key?: unknown; readonly current?: unknown; readonly next?: unknown }
  | { readonly op: 'fail'; readonly code: string; readonly message: string; readonly key?: unknown }

/** Options every built-in sink takes. */
export interface SinkOptions extends AbortOptions {
  /** Events per write request. */
  readonly batchSize?: number
  /** Bytes per write request, when the driver can size writes. */
  readonly maxBatchBytes?: number
  /** Batches in flight at once; writes to one key always stay in order. @default 1 */
  readonly concurrency?: number
  /** Previews kept in a dry run. @default 5 */
  readonly previewLimit?: number
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

/** What every sink reports, from its tally: the counts, samples, previews, retries and skip reasons. */
export function resultOf(uri: string, dryRun: boolean, tally: SinkTally, samples: FailureSamples, previews: readonly unknown[]): SinkResult {
  return {
    uri,
    dryRun,
    received: tally.received,
    written: tally.written,
    skipped: tally.skipped,
    failed: tally.failed,
    failures: samples.samples,
    previews,
    retries: { ...tally.retries },
    skippedBy: { ...tally.skippedBy },
  }
}

/** A fresh set of sink counters. */
export function newTally(): SinkTally {
  return { received: 0, written: 0, skipped: 0, failed: 0, retries: {}, skippedBy: {} }
}

export { PlanOverlay } from './plan-overlay.js'

interface Pending<W> {
  readonly event: unknown
  readonly write: W
}

/** Events between turns of the event loop while a write is in flight. */
const IO_TURN_EVERY = 32

/**
 * Builds a {@link Sink} from a driver. Events are handled in source order: with `concurrency` 1
 * one batch at a time, with more, batches overlap but never two that share a key.
 *
 * @example
 * export const toConsole = (options = {}) =>
 *   defineSink({ uri: 'console:', write: async (batch) => batch.map((e) => (console.log(e), { status: 'written' })) },
 *     { batchSize: 1, ...options })
 */
export function defineSink<In, W = In>(
  driver: SinkDriver<In, W>,
  options: SinkOptions & { readonly batchSize: number },
): Sink<In> {
  const batchSize = assertInteger('batchSize', options.batchSize, 1)
  const concurrency = assertInteger('concurrency', options.concurrency ?? 1, 1)
  const maxBatchBytes = options.maxBatchBytes ?? Infinity
  if (!(maxBatchBytes > 0)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`maxBatchBytes\` > 0, got \`${maxBatchBytes}\``)
  }
  const sinkName = driver.uri.split(':')[0] || 'sink'

  const sink = async function sink(source: AsyncIterable<In>, context: SinkContext = {}): Promise<SinkResult> {
    // A dry run reaches a sink one way only: the context run() gives it.
    const dryRun = context.dryRun ?? false
    const signal = context.signal ?? options.signal
    const tally = context.tally ?? newTally()
    const previewLimit = context.previewLimit ?? options.previewLimit ?? 5
    const samples = new FailureSamples()
    const previews: unknown[] = []
    let deleted = 0
    // A dry run of a driver that can read its target plans each batch instead of writing it.
    const planning = dryRun && driver.plan !== undefined
    const plan = { wouldInsert: 0, wouldUpdate: 0, wouldDelete: 0, wouldSkip: 0 }
    const outcomesOfPlan = (planned: readonly PlannedWrite[]): WriteOutcome[] =>
      planned.map((p) => {
        if (previews.length < previewLimit && p.op !== 'fail') previews.push(p)
        switch (p.op) {
          case 'insert':
            plan.wouldInsert++
            return { status: 'written', key: p.key }
          case 'update':
            plan.wouldUpdate++
            return { status: 'written', key: p.key }
          case 'delete':
            plan.wouldDelete++
            return { status: 'written', deleted: true, key: p.key }
          case 'skip':
            plan.wouldSkip++
            return { status: 'skipped', reason: p.reason, key: p.key }
          default:
            return { status: 'failed', code: p.code, message: p.message, key: p.key }
        }
      })
    const retried = (reason: string) => {
      tally.retries[reason] = (tally.retries[reason] ?? 0) + 1
    }
    const openContext: DriverContext = { dryRun, signal, retried }
    // Writes get no signal: a stop ends reading, and what was read is still written.
    const driverContext: DriverContext = { dryRun, retried }

    const fail = (event: unknown, failure: Omit<ItemFailure, 'stage' | 'position'>) => {
      tally.failed++
      const item: ItemFailure = { stage: sinkName, position: positionOf(event), ...failure, message: capText(failure.message) }
      samples.add(item)
      context.onFailure?.(item, event)
    }
    // A checkpoint written after every batch to a remote store: no batch is sent before it is stored.
    let storing: Promise<void> | undefined
    const whenStored = (result: void | Promise<void> | undefined) => {
      if (!result) return
      const p: Promise<void> = Promise.all([storing, result]).then(() => {
        if (storing === p) storing = undefined
      })
      storing = p
    }
    const settledOne = (event: unknown, outcome: SettledEvent) => whenStored(context.onSettled?.([event], [outcome]))

    const settle = (batch: readonly Pending<W>[], outcomes: readonly WriteOutcome[] | undefined, error?: unknown) => {
      const settled: SettledEvent[] | undefined = context.onSettled ? new Array(batch.length) : undefined
      for (let i = 0; i < batch.length; i++) {
        const outcome = outcomes?.[i]
        if (settled) settled[i] = outcome?.status === 'written' || outcome?.status === 'skipped' ? outcome : FAILED
        if (!outcome) {
          fail(batch[i]!.event, {
            code: error ? errorCode(error) : 'ERR_INTERNAL',
            message: error ? errorMessage(error) : `${sinkName}: the driver returned no outcome for this event`,
            attempts: (error as { attempts?: number } | undefined)?.attempts,
            key: undefined,
          })
          continue
        }
        if (outcome.status === 'written') {
          tally.written++
          if (outcome.deleted) deleted++
        } else if (outcome.status === 'skipped') {
          tally.skipped++
          const reason = outcome.reason ?? 'other'
          tally.skippedBy[reason] = (tally.skippedBy[reason] ?? 0) + 1
        } else {
          fail(batch[i]!.event, {
            code: outcome.code ?? 'ERR_WRITE_REJECTED',
            message: outcome.message ?? 'rejected by the target',
            key: outcome.key,
            attempts: outcome.attempts,
          })
        }
      }
      whenStored(context.onSettled?.(batch.map((p) => p.event), settled))
    }

    // Batches in flight and the keys they touch: a batch that shares a key with one in flight
    // waits for it, so writes to one key stay in order. One shared "something finished" signal
    // keeps waiting O(1) per batch however many are in flight.
    const keyCounts = new Map<string, number>()
    let inFlightCount = 0
    const pending = new Set<Promise<void>>()
    let finished = deferred()
    let fatal: unknown

    const dispatch = async (batch: Pending<W>[]) => {
      const keys: string[] = []
      // Keys only keep apart batches in flight together: with one at a time there is nothing to check.
      if (driver.keyOf && concurrency > 1) {
        const seen = new Set<string>()
        for (const p of batch) {
          const k = driver.keyOf(p.write)
          if (k !== undefined && !seen.has(k)) {
            seen.add(k)
            keys.push(k)
          }
        }
      }
      while (inFlightCount >= concurrency || (keyCounts.size > 0 && keys.some((k) => keyCounts.has(k)))) await finished.promise
      while (storing) await storing
      if (fatal) throw fatal
      inFlightCount++
      for (const k of keys) keyCounts.set(k, (keyCounts.get(k) ?? 0) + 1)
      const writes = batch.map((p) => p.write)
      const work = planning ? driver.plan!(writes, driverContext).then(outcomesOfPlan) : driver.write(writes, driverContext)
      const promise: Promise<void> = work
        .then(
          (outcomes) => settle(batch, outcomes),
          (error) => {
            // The target can take no more (a dropped table, a full disk): the run stops, and the
            // batch is not failed event by event: its events are not handled (the report counts
            // them as ERR_NOT_HANDLED and a checkpoint does not pass them), ready for a resume.
            if (stopsRun(error)) fatal ??= error
            else settle(batch, undefined, error)
          },
        )
        .finally(() => {
          inFlightCount--
          for (const k of keys) {
            const n = keyCounts.get(k)! - 1
            if (n === 0) keyCounts.delete(k)
            else keyCounts.set(k, n)
          }
          pending.delete(promise)
          const done = finished
          finished = deferred()
          done.resolve()
        })
      pending.add(promise)
    }

    await driver.open?.(openContext)
    try {
      let batch: Pending<W>[] = []
      let bytes = 0
      let sinceTurn = 0
      for await (const event of source) {
        tally.received++
        let write: W
        try {
          write = driver.prepare ? driver.prepare(event) : (event as unknown as W)
        } catch (error) {
          if (isConfigError(error)) throw error
          const key = (error as { key?: unknown } | null)?.key
          fail(event, { code: errorCode(error), message: errorMessage(error), ...(key !== undefined ? { key } : {}) })
          settledOne(event, FAILED)
          if (signal?.aborted) break
          continue
        }
        if (dryRun && !planning) {
          if (previews.length < previewLimit) previews.push(driver.preview ? driver.preview(write) : write)
          tally.written++
          settledOne(event, WRITTEN)
        } else {
          const size = driver.sizeOf && maxBatchBytes !== Infinity ? driver.sizeOf(write) : 0
          // Never let a batch grow past maxBatchBytes: send what is there first.
          if (batch.length > 0 && bytes + size > maxBatchBytes) {
            const full = batch
            batch = []
            bytes = 0
            await dispatch(full)
          }
          batch.push({ event, write })
          bytes += size
          if (batch.length >= batchSize || bytes >= maxBatchBytes) {
            const full = batch
            batch = []
            bytes = 0
            await dispatch(full)
          }
        }
        if (fatal) throw fatal
        // While a batch is in flight, give I/O a turn every few dozen events: a source that parses
        // from memory only yields at its chunk boundaries (thousands of events), and each round
        // trip of a write (a COPY's steps, a response) would otherwise wait for the next one.
        if (inFlightCount > 0 && ++sinceTurn >= IO_TURN_EVERY) {
          sinceTurn = 0
          await nextTurn()
        }
        // Stop reading at once; what was read is still written below.
        if (signal?.aborted) break
      }
      if (batch.length > 0) await dispatch(batch)
      await Promise.all(pending)
      if (fatal) throw fatal
    } catch (error) {
      // Let in-flight batches finish, so the counts say exactly what was done.
      await Promise.allSettled(pending)
      throw error
    } finally {
      await driver.close?.()
    }

    return {
      ...resultOf(driver.uri, dryRun, tally, samples, previews),
      ...(deleted > 0 ? { deleted } : {}),
      ...(planning ? { plan: { ...plan, exact: driver.planIsExact?.() ?? true } satisfies SinkPlan } : {}),
    }
  }
  // The report names the sink by its URI even when it fails before resolving.
  return withSinkInfo(sink, { uri: driver.uri })
}

const FAILED: SettledEvent = Object.freeze({ status: 'failed' })
const WRITTEN: SettledEvent = Object.freeze({ status: 'written' })

/** What a sink says about itself beyond its shape: its {@link SinkCapabilities}. */
export type SinkInfo = SinkCapabilities

/**
 * Gives a sink function its capabilities as plain properties (`uri`, `pacedPerSecond`,
 * `checkpointEveryBatch`), which `run()` and the CLI read through the Sink type. A plugin whose sink
 * honours the factory context's `ratePerSecond` itself says so with `pacedPerSecond`; the CLI paces
 * every other sink with a rate stage.
 *
 * @example
 * return withSinkInfo(mySink, { pacedPerSecond: context.ratePerSecond })
 */
export function withSinkInfo<F extends object>(sink: F, info: SinkCapabilities): F & SinkCapabilities {
  for (const [key, value] of Object.entries(info)) if (value !== undefined) Object.defineProperty(sink, key, { value, enumerable: false, configurable: true })
  return sink as F & SinkCapabilities
}

/** The capabilities of a sink (for code that holds an untyped one). */
export function sinkInfo(sink: unknown): SinkCapabilities {
  if (typeof sink !== 'function') return {}
  const { uri, pacedPerSecond, checkpointEveryBatch } = sink as SinkCapabilities
  return { ...(typeof uri === 'string' ? { uri } : {}), ...(pacedPerSecond !== undefined ? { pacedPerSecond } : {}), ...(checkpointEveryBatch ? { checkpointEveryBatch } : {}) }
}
