import { positionOf, setPosition } from '../position.js'
import type { Stage } from '../types.js'
import { withStageInfo } from './stage-info.js'

/**
 * Transforms each event, in order. Return undefined to drop the event (counted as unmatched), an
 * array to fan out into several, or a promise of either. New objects keep their event's position.
 * A thrown error stops the run; to fail one event only, filter it out or let the sink reject it.
 *
 * @example
 * map((e) => (e['detail-type'] === 'Test' ? undefined : { ...e, detail: normalise(e.detail) }))
 */
export function map<In = Record<string, unknown>, Out = In>(
  fn: (event: In, index: number) => Out | readonly Out[] | undefined | Promise<Out | readonly Out[] | undefined>,
): Stage<In, Out> {
  if (typeof fn !== 'function') throw new TypeError(`expected \`map\` to get a function, got \`${typeof fn}\``)
  return withStageInfo(
    async function* mapStage(source: AsyncIterable<In>) {
      let index = 0
      for await (const event of source) {
        let out = fn(event, index++)
        if (out && typeof (out as Promise<unknown>).then === 'function') out = await out
        if (out === undefined) continue
        const position = positionOf(event)
        if (Array.isArray(out)) {
          for (const item of out as Out[]) yield positionOf(item) ? item : setPosition(item, position)
        } else {
          yield positionOf(out) ? (out as Out) : setPosition(out as Out, position)
        }
      }
    },
    { kind: 'map' },
  )
}
