import type { SinkContext, SinkResult } from './types.js'
import { defineSink, type SinkOptions } from './define-sink.js'

/** The result of `collect()`: the sink report plus the events, in order. */
export interface CollectResult<T> extends SinkResult {
  readonly events: T[]
}

/**
 * Collects events into an array, in order: for unit tests of your own pipelines. In a dry run it
 * keeps nothing and reports previews like any sink.
 *
 * @example
 * const { events } = await pipe(readJsonLines('fixture.ndjson'), filter(rule), collect())
 */
export function collect<T = Record<string, unknown>>(options: SinkOptions = {}): (source: AsyncIterable<T>, context?: SinkContext) => Promise<CollectResult<T>> {
  return async function collectSink(source, context) {
    const events: T[] = []
    const sink = defineSink<T, T>(
      {
        uri: 'collect:',
        async write(batch) {
          for (const event of batch) events.push(event)
          return batch.map(() => ({ status: 'written' as const }))
        },
      },
      { batchSize: 256, ...options },
    )
    const result = await sink(source, context)
    return { ...result, events }
  }
}
