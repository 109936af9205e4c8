import type { Stage } from '../types.js'
import { withStageInfo } from './stage-info.js'

/**
 * Calls `fn` with each event (awaiting it when it returns a promise) and passes the event on
 * unchanged: for logging, metrics and tests.
 *
 * @example
 * tap((e) => console.error('saw', e.id))
 */
export function tap<T>(fn: (event: T, index: number) => unknown): Stage<T, T> {
  if (typeof fn !== 'function') throw new TypeError(`expected \`tap\` to get a function, got \`${typeof fn}\``)
  return withStageInfo(
    async function* tapStage(source: AsyncIterable<T>) {
      let index = 0
      for await (const event of source) {
        const r = fn(event, index++)
        if (r && typeof (r as Promise<unknown>).then === 'function') await r
        yield event
      }
    },
    { kind: 'tap' },
  )
}
