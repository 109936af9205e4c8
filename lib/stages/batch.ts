import type { Stage } from '../types.js'
import { assertInteger } from '../util/options.js'
import { withStageInfo } from './stage-info.js'

/**
 * Groups events into arrays of `size` (the last may be shorter), in order. Sinks batch on their own;
 * use this for your own sinks and stages.
 *
 * @example
 * pipe(source, batch(100), async function (batches) { for await (const b of batches) await send(b) })
 */
export function batch<T>(size: number): Stage<T, T[]> {
  assertInteger('size', size, 1)
  return withStageInfo(
    async function* batchStage(source: AsyncIterable<T>) {
      let current: T[] = []
      for await (const event of source) {
        current.push(event)
        if (current.length >= size) {
          yield current
          current = []
        }
      }
      if (current.length > 0) yield current
    },
    { kind: 'batch' },
  )
}
