import { HydratorError, errorMessage } from '../errors.js'

/**
 * An event as one line of JSON; ERR_UNSERIALIZABLE (for this event only) when it cannot be written:
 * nested too deeply, too large, a BigInt, or nothing at all (`undefined`, a function).
 */
export function serializeEvent(event: unknown): string {
  let line: string | undefined
  try {
    line = JSON.stringify(event)
  } catch (error) {
    const why = error instanceof RangeError ? `it is nested too deeply or too large (${error.message})` : errorMessage(error)
    throw new HydratorError('ERR_UNSERIALIZABLE', `the event cannot be written as JSON: ${why}`)
  }
  if (line === undefined) throw new HydratorError('ERR_UNSERIALIZABLE', 'the event cannot be written as JSON')
  return line
}
