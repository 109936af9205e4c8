import type { Stage } from '../types.js'
import { assertInteger } from '../util/options.js'
import { withStageInfo } from './stage-info.js'

/**
 * Passes the first `n` events and stops reading: the source's `finally` runs and nothing more is
 * read (the CLI's `--limit`).
 *
 * @example
 * pipe(readJsonLines('big.ndjson'), take(10), collect())
 */
export function take<T>(n: number): Stage<T, T> {
  assertInteger('n', n, 0)
  return withStageInfo(
    async function* takeStage(source: AsyncIterable<T>) {
      if (n === 0) return
      let count = 0
      for await (const event of source) {
        yield event
        if (++count >= n) return
      }
    },
    { kind: 'take', keepsEvents: true, blind: true },
  )
}
