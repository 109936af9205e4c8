import { HydratorError } from '../errors.js'
import { formatPosition, positionOf } from '../position.js'
import { TextEvent } from '../raw-text.js'
import { hasOrderKey, orderKey } from '../sort/key.js'
import { sortSource, type SortSourceOptions } from '../sort/sorted-source.js'
import type { ItemFailure, Position, Stage } from '../types.js'
import { withStageInfo } from './stage-info.js'

export type { OrderMissing } from '../sort/sorted-source.js'

/** Options of {@link orderBy}: those of `sortSource` but the key paths. */
export type OrderByOptions = Omit<SortSourceOptions, 'orderBy' | 'resume'>

/** The source position inside a sorted one (`file:line` rather than the ordinal). */
function originOf(event: unknown): Position | undefined {
  const p = positionOf(event)
  return p?.kind === 'sorted' ? (p.origin ?? p) : p
}

/**
 * Fails each event without the sort key (ERR_ORDER_KEY_MISSING, with its source position) and
 * passes the others, in order. `run()` counts and dead-letters the failures; in a bare `pipe()`,
 * where nothing could report them, the first one throws. `hydrate()` puts it first when
 * `orderMissing` is `fail` (sorted sources put such events first).
 *
 * @example
 * run({ source: sortSource(open, { orderBy: 'time' }), stages: [orderKeyCheck('time')], sink })
 */
export function orderKeyCheck<T>(paths: string | readonly string[]): Stage<T, T> {
  const hasKey = hasOrderKey(paths)
  const names = (typeof paths === 'string' ? paths : paths.join(',')).trim()
  let listener: ((failure: ItemFailure, event: unknown) => void) | undefined
  return withStageInfo(
    async function* orderKeyCheckStage(source: AsyncIterable<T>) {
      for await (const event of source) {
        // A sorted source yields events as text alone only when it found their key.
        if (event instanceof TextEvent || hasKey(event)) {
          yield event
          continue
        }
        const position = originOf(event)
        const failure: ItemFailure = {
          stage: 'order-by',
          ...(position ? { position } : {}),
          code: 'ERR_ORDER_KEY_MISSING',
          message: `${formatPosition(position)}: the event has no value at --order-by \`${names}\` (--order-missing first|last sorts such events instead)`,
        }
        if (!listener) throw new HydratorError('ERR_ORDER_KEY_MISSING', failure.message)
        listener(failure, event)
      }
    },
    { kind: 'map', keepsEvents: true, blind: true, failures: { listen: (l) => void (listener = l) } },
  )
}

/**
 * Sorts the events by the value at one or more JSON paths (`time`, `detail.sequence,id`), stably,
 * with an external merge sort bounded by `memoryBytes` (see `sortSource`): numbers as numbers,
 * ISO-8601 timestamps as instants, other strings by code point; across types null < false < true <
 * numbers < timestamps < other strings < arrays and objects (by their JSON text). Events without the
 * key fail with ERR_ORDER_KEY_MISSING (`missing: 'fail'`, the default) or sort first or last.
 * The whole input is read before the first event comes out. For checkpoints, `hydrate()` sorts at
 * the source instead (`orderBy` option), where resumes skip what was handled.
 *
 * @example
 * pipe(readJsonLines('events.ndjson'), orderBy('time', { plainJson: true }), toJsonLines('sorted.ndjson'))
 */
export function orderBy<T>(paths: string | readonly string[], options: OrderByOptions = {}): Stage<T, T> {
  orderKey(paths)
  const checkStage = (options.missing ?? 'fail') === 'fail' ? orderKeyCheck<T>(paths) : undefined
  return withStageInfo(
    async function* orderByStage(source: AsyncIterable<T>) {
      const sorted = sortSource(source as AsyncIterable<unknown>, { ...options, orderBy: paths }) as AsyncIterable<T>
      yield* checkStage ? checkStage(sorted) : sorted
    },
    { ...(checkStage?.failures ? { failures: checkStage.failures } : {}) },
  )
}
