import { errorMessage } from '../errors.js'
import { formatPosition, positionOf, setPosition } from '../position.js'
import type { ItemFailure, Stage } from '../types.js'
import { capText } from '../util/text.js'
import { withStageInfo } from './stage-info.js'

/** Options of {@link map}. */
export interface MapOptions {
  /**
   * What a thrown error (or rejected promise) does: `throw` stops the run; `fail` fails only that
   * event with ERR_TRANSFORM and its position (in `run()`, which counts it and dead-letters it; in
   * a bare `pipe()`, where nothing could report it, it still throws).
   * @default 'throw'
   */
  readonly onError?: 'throw' | 'fail'
  /** The stage name in failures. @default 'map' */
  readonly name?: string
}

/**
 * Transforms each event, in order. Return undefined to drop the event (counted as unmatched), an
 * array to fan out into several, or a promise of either. New objects keep their event's position.
 * A thrown error stops the run, unless `onError: 'fail'`: then only that event fails
 * (ERR_TRANSFORM, with its position) and the run goes on.
 *
 * @example
 * map((e) => (e['detail-type'] === 'Test' ? undefined : { ...e, detail: normalise(e.detail) }))
 */
export function map<In = Record<string, unknown>, Out = In>(
  fn: (event: In, index: number) => Out | readonly Out[] | undefined | Promise<Out | readonly Out[] | undefined>,
  options: MapOptions = {},
): Stage<In, Out> {
  if (typeof fn !== 'function') throw new TypeError(`expected \`map\` to get a function, got \`${typeof fn}\``)
  const onError = options.onError ?? 'throw'
  if (onError !== 'throw' && onError !== 'fail') throw new TypeError(`expected \`onError\` to be \`throw\` or \`fail\`, got \`${String(onError)}\``)
  const name = options.name ?? 'map'
  let listener: ((failure: ItemFailure, event: unknown) => void) | undefined
  return withStageInfo(
    async function* mapStage(source: AsyncIterable<In>) {
      let index = 0
      for await (const event of source) {
        let out: Out | readonly Out[] | undefined
        try {
          out = fn(event, index++) as Out | readonly Out[] | undefined
          if (out && typeof (out as unknown as Promise<unknown>).then === 'function') out = await (out as unknown as Promise<Out | readonly Out[] | undefined>)
        } catch (error) {
          if (onError === 'throw' || !listener) throw error
          const position = positionOf(event)
          listener(
            { stage: name, ...(position ? { position } : {}), code: 'ERR_TRANSFORM', message: capText(`${formatPosition(position)}: the transform threw: ${errorMessage(error)}`) },
            event,
          )
          continue
        }
        if (out === undefined) continue
        const position = positionOf(event)
        if (Array.isArray(out)) {
          for (const item of out as Out[]) yield positionOf(item) ? item : setPosition(item, position)
        } else {
          yield positionOf(out) ? (out as Out) : setPosition(out as Out, position)
        }
      }
    },
    { kind: 'map', ...(onError === 'fail' ? { failures: { listen: (l: typeof listener) => void (listener = l) } } : {}) },
  )
}
