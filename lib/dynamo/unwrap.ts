// Items holding several events (changesets): the `unwrap` option compiled into item -> events.
import { errorMessage } from '../errors.js'
import { setOwn } from './codec.js'

/**
 * Turns one stored item into several events: `{ field, keep }` parses `item[field]` (a JSON array
 * as a string, or a list) and copies the `keep` attributes onto each of its events; a function
 * returns the events itself.
 */
export type DynamoUnwrap =
  | { readonly field: string; readonly keep?: readonly string[] }
  | ((item: Record<string, unknown>) => readonly unknown[])

// A failure of the whole item (not JSON, not an array) has no index.
type UnwrapPart = { index: number; event: unknown } | { index?: number; failure: { code: string; message: string } }

/** @internal Compiles an unwrap option into item -> parts (events, or failures of one part or the whole item). */
export function compileUnwrap(unwrap: DynamoUnwrap | undefined): ((item: Record<string, unknown>) => UnwrapPart[]) | undefined {
  if (unwrap === undefined) return undefined
  if (typeof unwrap === 'function') {
    return (item) => {
      let events: readonly unknown[]
      try {
        events = unwrap(item)
      } catch (error) {
        return [{ failure: { code: 'ERR_TRANSFORM', message: `unwrap threw: ${errorMessage(error)}` } }]
      }
      if (!Array.isArray(events)) {
        return [{ failure: { code: 'ERR_TRANSFORM', message: `unwrap returned ${typeof events}, expected an array of events` } }]
      }
      return events.map((event, index) =>
        event !== null && typeof event === 'object'
          ? { index, event }
          : { index, failure: { code: 'ERR_NOT_AN_OBJECT', message: `unwrapped event ${index} is ${event === null ? 'null' : typeof event}, expected an object` } },
      )
    }
  }
  const { field } = unwrap
  const keep = unwrap.keep ?? []
  return (item) => {
    let value = Object.hasOwn(item, field) ? item[field] : undefined
    if (typeof value === 'string') {
      try {
        value = JSON.parse(value)
      } catch (error) {
        return [{ failure: { code: 'ERR_INVALID_JSON', message: `\`${field}\` is not valid JSON (${errorMessage(error)})` } }]
      }
    }
    if (!Array.isArray(value)) {
      const got = value === undefined ? 'missing' : value === null ? 'null' : typeof value
      return [{ failure: { code: 'ERR_INVALID_JSON', message: `\`${field}\` is ${got}, expected a JSON array of events` } }]
    }
    const kept: Record<string, unknown> = {}
    for (const name of keep) if (Object.hasOwn(item, name) && item[name] !== undefined) setOwn(kept, name, item[name])
    return value.map((event: unknown, index: number) =>
      event !== null && typeof event === 'object' && !Array.isArray(event)
        ? { index, event: { ...kept, ...(event as Record<string, unknown>) } }
        : {
            index,
            failure: {
              code: 'ERR_NOT_AN_OBJECT',
              message: `\`${field}\`[${index}] is ${event === null ? 'null' : Array.isArray(event) ? 'an array' : typeof event}, expected an event object`,
            },
          },
    )
  }
}
