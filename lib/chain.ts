import type { Sink, SinkContext, Stage } from './types.js'

type SinkOut<S> = S extends (source: AsyncIterable<any>, context?: SinkContext) => Promise<infer R> ? R : never

/**
 * A typed `pipe()`: source, up to six stages, sink; the element type flows through, so
 * `filter<MyEvent>()` and `map()` are checked without annotations at every call. Resolves with the
 * sink's result. Works with any Source, Stage and Sink, like it-pipe's `pipe()`.
 *
 * @example
 * const { events } = await chain(readJsonLines('in.ndjson'), filter(rule), map((e) => e.detail), collect())
 */
export function chain<A, S extends Sink<A>>(source: AsyncIterable<A>, sink: S): Promise<SinkOut<S>>
export function chain<A, B, S extends Sink<B>>(source: AsyncIterable<A>, s1: Stage<A, B>, sink: S): Promise<SinkOut<S>>
export function chain<A, B, C, S extends Sink<C>>(source: AsyncIterable<A>, s1: Stage<A, B>, s2: Stage<B, C>, sink: S): Promise<SinkOut<S>>
export function chain<A, B, C, D, S extends Sink<D>>(
  source: AsyncIterable<A>,
  s1: Stage<A, B>,
  s2: Stage<B, C>,
  s3: Stage<C, D>,
  sink: S,
): Promise<SinkOut<S>>
export function chain<A, B, C, D, E, S extends Sink<E>>(
  source: AsyncIterable<A>,
  s1: Stage<A, B>,
  s2: Stage<B, C>,
  s3: Stage<C, D>,
  s4: Stage<D, E>,
  sink: S,
): Promise<SinkOut<S>>
export function chain<A, B, C, D, E, F, S extends Sink<F>>(
  source: AsyncIterable<A>,
  s1: Stage<A, B>,
  s2: Stage<B, C>,
  s3: Stage<C, D>,
  s4: Stage<D, E>,
  s5: Stage<E, F>,
  sink: S,
): Promise<SinkOut<S>>
export function chain<A, B, C, D, E, F, G, S extends Sink<G>>(
  source: AsyncIterable<A>,
  s1: Stage<A, B>,
  s2: Stage<B, C>,
  s3: Stage<C, D>,
  s4: Stage<D, E>,
  s5: Stage<E, F>,
  s6: Stage<F, G>,
  sink: S,
): Promise<SinkOut<S>>
export function chain(source: AsyncIterable<unknown>, ...rest: ((input: AsyncIterable<unknown>) => unknown)[]): Promise<unknown> {
  const sink = rest.pop()
  if (typeof sink !== 'function') return Promise.reject(new TypeError('chain() needs a sink as its last argument'))
  let current = source
  for (const stage of rest) current = stage(current) as AsyncIterable<unknown>
  return Promise.resolve(sink(current))
}
