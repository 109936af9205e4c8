import { setImmediate as nextTurn } from 'node:timers/promises'
import { HydratorError, errorCode, errorMessage, isConfigError } from './errors.js'
import type { SettledEvent } from './checkpoint/tracker.js'
import { SinkParker } from './stages/park-sink.js'
import { positionOf } from './position.js'
import { FailureSamples } from './report/failures.js'
import type { ItemFailure, Sink, SinkContext, SinkPlan, SinkResult } from './types.js'
import { assertInteger } from './util/options.js'
import { capText } from './util/text.js'

import { PARKED, stopsRun, type DriverContext, type PlannedWrite, type SinkDriver, type SinkOptions, type WriteOutcome } from './sink-driver.js'
import { newTally, resultOf, withSinkInfo } from './sink-info.js'

export { stopsRun, type DriverContext, type PlannedWrite, type SinkDriver, type SinkOptions, type WriteOutcome } from './sink-driver.js'
export { newTally, resultOf, sinkInfo, withSinkInfo, type SinkInfo } from './sink-info.js'

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

export { PlanOverlay } from './plan-overlay.js'

interface Pending<W> {
  readonly event: unknown
  readonly write: W
  /** Its index in the order the sink received events, and its parking key. */
  readonly seq: number
  readonly key: string | undefined
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
    const driverContext: DriverContext = { dryRun, retried, ...(context.rate && !dryRun ? { throttle: context.rate } : {}) }

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

    // Parking (run()'s onKeyFailure 'park'): once an event of a key fails, the later ones are not
    // sent but parked behind it in the dead-letter file (see lib/park.ts).
    // Parking needs a key (the driver's, or the run's --order-key): without one no event could ever be
    // parked, and the per-event and per-batch bookkeeping is skipped (NDJSON, EventBridge, ...).
    const keyed = driver.keyOf !== undefined || driver.orderKeyOf !== undefined || context.parking?.byOrderKey === true
    const parker = context.parking && keyed ? new SinkParker<W>(context.parking, driver, sinkName) : undefined

    const settle = (batch: readonly Pending<W>[], outcomes: readonly WriteOutcome[] | undefined, error?: unknown): void => {
      // A parked event settles after the failure it waits behind was reported: its dead-letter line comes after that one.
      if (parker && outcomes && parker.deferred(batch, (i) => outcomes[i]?.status === 'parked', () => settle(batch, outcomes, error))) return
      const failedHere: Pending<W>[] = []
      const settled: SettledEvent[] | undefined = context.onSettled ? new Array(batch.length) : undefined
      for (let i = 0; i < batch.length; i++) {
        const outcome = outcomes?.[i]
        if (settled) settled[i] = outcome?.status === 'written' || outcome?.status === 'skipped' ? (outcome as SettledEvent) : FAILED
        if (!outcome) {
          if (parker) failedHere.push(batch[i]!)
          fail(batch[i]!.event, {
            code: error ? errorCode(error) : 'ERR_INTERNAL',
            message: error ? errorMessage(error) : `${sinkName}: the driver returned no outcome for this event`,
            attempts: (error as { attempts?: number } | undefined)?.attempts,
            key: undefined,
            ...parker?.failed(batch[i]!),
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
        } else if (outcome.status === 'parked' && parker?.behind(batch[i]!)) {
          tally.failed++
          tally.parked = (tally.parked ?? 0) + 1
          context.onParked?.(parker.parkedFailure(batch[i]!, parker.behind(batch[i]!)!), batch[i]!.event)
        } else {
          if (parker) failedHere.push(batch[i]!)
          fail(batch[i]!.event, {
            code: outcome.status === 'parked' ? 'ERR_INTERNAL' : (outcome.code ?? 'ERR_WRITE_REJECTED'),
            message: outcome.status === 'parked' ? `${sinkName}: the driver parked an event without a failed key before it` : (outcome.message ?? 'rejected by the target'),
            key: outcome.key,
            attempts: outcome.attempts,
            ...parker?.failed(batch[i]!),
          })
        }
      }
      whenStored(context.onSettled?.(batch.map((p) => p.event), settled))
      parker?.noted(failedHere)
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
      if ((driver.keyOf || parker?.splitsAtKey) && concurrency > 1) {
        const seen = new Set<string>()
        const add = (k: string | undefined) => {
          if (k !== undefined && !seen.has(k)) {
            seen.add(k)
            keys.push(k)
          }
        }
        for (const p of batch) {
          add(driver.keyOf?.(p.write))
          // Parking: a batch waits for the one in flight with its key, to know whether it failed.
          if (parker) add(parker.separationKey(p))
        }
      }
      while (inFlightCount >= concurrency || (keyCounts.size > 0 && keys.some((k) => keyCounts.has(k)))) await finished.promise
      while (storing) await storing
      if (fatal) throw fatal
      // Parking is decided only now: the batches before it with its keys have settled.
      const parked = parker?.parkedOf(batch) ?? []
      if (parked.length > 0) {
        settle(parked, parked.map(() => PARKED))
        const out = new Set(parked)
        batch = batch.filter((p) => !out.has(p))
        if (batch.length === 0) return
      }
      inFlightCount++
      for (const k of keys) keyCounts.set(k, (keyCounts.get(k) ?? 0) + 1)
      const writes = batch.map((p) => p.write)
      const writeContext: DriverContext = parker ? { ...driverContext, parking: parker.forBatch(batch) } : driverContext
      const work = planning ? driver.plan!(writes, writeContext).then(outcomesOfPlan) : driver.write(writes, writeContext)
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
      let seq = 0
      for await (const event of source) {
        tally.received++
        const at = seq++
        let write: W
        try {
          write = driver.prepare ? driver.prepare(event) : (event as unknown as W)
        } catch (error) {
          if (isConfigError(error)) throw error
          const key = (error as { key?: unknown } | null)?.key
          const parkAs = parker?.preparedFailed(event, at)
          fail(event, { code: errorCode(error), message: errorMessage(error), ...(key !== undefined ? { key } : {}), ...(parkAs !== undefined ? { orderKey: parkAs } : {}) })
          settledOne(event, FAILED)
          parker?.noted([{ event, seq: at, key: parkAs }])
          if (signal?.aborted) break
          continue
        }
        const pendingOne: Pending<W> = { event, write, seq: at, key: parker?.keyOf(event, write) }
        if (dryRun && !planning) {
          // A dry run parks what the real run would, behind the failures it can foresee.
          if (parker?.behind(pendingOne)) settle([pendingOne], [PARKED])
          else {
            if (previews.length < previewLimit) previews.push(driver.preview ? driver.preview(write) : write)
            tally.written++
            settledOne(event, WRITTEN)
          }
        } else {
          const size = driver.sizeOf && maxBatchBytes !== Infinity ? driver.sizeOf(write) : 0
          // Never let a batch grow past maxBatchBytes: send what is there first.
          // Parking: and never put two events of one key in a batch the driver might apply in part.
          if (batch.length > 0 && (bytes + size > maxBatchBytes || parker?.holds(pendingOne.key))) {
            const full = batch
            batch = []
            bytes = 0
            parker?.sent()
            await dispatch(full)
          }
          batch.push(pendingOne)
          parker?.add(pendingOne.key)
          bytes += size
          if (batch.length >= batchSize || bytes >= maxBatchBytes) {
            const full = batch
            batch = []
            bytes = 0
            parker?.sent()
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
