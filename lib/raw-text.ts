// The exact JSON text an event was read as, carried beside it (never inside it) so that a sink that
// writes JSON lines can write the event as it was read instead of serializing it again: the same
// bytes (numbers past double precision and number spellings survive), and one JSON.stringify less
// per event. Only run() turns it on, and only when nothing between the source and the sink can
// change an event (see SourceCapabilities.useRawText).

interface RawStore {
  get(event: object): string | undefined
  set(event: object, text: string): void
}

// As positions (position.ts): a private class field stamped on by a base constructor's return
// override, invisible to JSON.stringify, spread and Object.keys, gone with the event. Objects it
// cannot be added to simply carry no text.
function makeStore(): RawStore {
  class Stamp {
    constructor(event: object) {
      return event
    }
  }
  class WithRaw extends Stamp {
    #raw: string
    constructor(event: object, raw: string) {
      super(event)
      this.#raw = raw
    }
    static get(event: object): string | undefined {
      return #raw in event ? (event as WithRaw).#raw : undefined
    }
    static set(event: object, raw: string): void {
      if (#raw in event) (event as WithRaw).#raw = raw
      else {
        try {
          new WithRaw(event, raw)
        } catch {
          // a proxy or a frozen object: no text, it is serialized as usual
        }
      }
    }
  }
  return { get: WithRaw.get, set: WithRaw.set }
}

const REGISTRY = Symbol.for('event-hydrator.raw-text')
const store: RawStore = ((globalThis as Record<symbol, RawStore | undefined>)[REGISTRY] ??= makeStore())

/** Records the JSON text `event` was parsed from (a source that was asked to keep it). */
export function setRawText<T>(event: T, text: string): T {
  if (typeof event === 'object' && event !== null) store.set(event, text)
  return event
}

/** The JSON text `event` was read as, when its source kept it; undefined otherwise. */
export function rawTextOf(event: unknown): string | undefined {
  return typeof event === 'object' && event !== null ? store.get(event) : undefined
}
