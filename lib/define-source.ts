import type { LinePrefilter } from './pattern/prefilter.js'
import { HydratorError } from './errors.js'
import { FailureSamples } from './report/failures.js'
import type { ItemFailure, Position, SourceOptions, SourceStats } from './types.js'

/** An async generator of events that also keeps live statistics for the report and progress. */
export interface StatefulSource<T> extends AsyncGenerator<T, void, undefined> {
  readonly stats: SourceStats
  /** Capped samples of unreadable records. */
  readonly failures: FailureSamples
  /** Also tells `listener` of every unreadable record (run() uses it for dead letters and limits). */
  addFailureListener(listener: (failure: ItemFailure) => void): void
  /**
   * Installs a raw-text prefilter before the first event is read (line sources only): a line for
   * which it returns false provably cannot match and is counted as read and unmatched, unparsed.
   * Returns false when this source cannot prefilter.
   */
  usePrefilter?(prefilter: LinePrefilter): boolean
  /** Keeps each event's JSON text for a sink that writes it as read (see SourceCapabilities.useRawText). */
  useRawText?(): boolean
}

/** What a source body gets: its stats, and `fail()` to report a record it cannot read. */
export interface SourceControl {
  readonly stats: SourceStats
  /** Reports an unreadable record; throws ERR_TOO_MANY_FAILURES past `maxFailures`. */
  fail(failure: Omit<ItemFailure, 'stage'>): void
  readonly signal?: AbortSignal
}

/**
 * Wraps a source body (an async generator function) with statistics, failure reporting and
 * `maxFailures`. The body runs only when the first event is pulled; its `finally` runs when the
 * consumer stops early.
 *
 * @example
 * export const readThings = (uri: string, options: SourceOptions = {}) =>
 *   defineSource(uri, options, async function* readThingsSource({ stats }) { ... })
 */
export function defineSource<T>(
  uri: string,
  options: SourceOptions,
  body: (control: SourceControl) => AsyncGenerator<T, void, undefined>,
  extras: { bytesTotal?: number; startedAt?: Position } = {},
): StatefulSource<T> {
  const maxFailures = options.maxFailures ?? Infinity
  if (!(typeof maxFailures === 'number' && maxFailures >= 0)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`maxFailures\` to be a number >= 0, got \`${String(maxFailures)}\``)
  }
  const stats: SourceStats = { uri, read: 0, failed: 0, prefiltered: 0, bytesRead: 0, ...extras }
  const failures = new FailureSamples()
  const listeners: ((failure: ItemFailure) => void)[] = []
  const control: SourceControl = {
    stats,
    signal: options.signal,
    fail(failure) {
      stats.failed++
      const item: ItemFailure = { stage: 'source', ...failure }
      failures.add(item)
      options.onFailure?.(item)
      for (const listener of listeners) listener(item)
      if (stats.failed > maxFailures) {
        throw new HydratorError(
          'ERR_TOO_MANY_FAILURES',
          `stopped after ${stats.failed} unreadable records (maxFailures is ${maxFailures}); the last: ${failure.message}`,
        )
      }
    },
  }
  const generator = body(control) as StatefulSource<T>
  Object.defineProperties(generator, {
    stats: { value: stats, enumerable: true },
    failures: { value: failures, enumerable: true },
    addFailureListener: { value: (listener: (failure: ItemFailure) => void) => listeners.push(listener) },
  })
  return generator
}
