// Bounded text for messages: a failure message may quote a value from an event, and an event may
// hold a 10 MB field. Messages are kept in reports, samples and dead-letter lines, so each is capped
// where it is made and again where it is stored.

/** The longest message a failure keeps, in characters. */
export const MAX_MESSAGE_CHARS = 2000

/** `text` cut to `max` characters, saying how much was cut. */
export function capText(text: string, max = MAX_MESSAGE_CHARS): string {
  if (typeof text !== 'string') text = String(text)
  if (text.length <= max) return text
  return `${text.slice(0, max)}… (${text.length - max} more characters)`
}

/**
 * A short quotable form of any value for a message: strings and numbers as JSON (cut to `max`
 * characters), objects and arrays by their kind and size. Never serialises a whole object, so it is
 * cheap and safe on huge or deeply nested values.
 */
export function describeValue(value: unknown, max = 100): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  switch (typeof value) {
    case 'string':
      return value.length > max ? `${JSON.stringify(value.slice(0, max))}… (${value.length} characters)` : JSON.stringify(value)
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value)
    case 'object':
      if (Array.isArray(value)) return `an array of ${value.length}`
      if (value instanceof Uint8Array) return `${value.byteLength} bytes of binary`
      return 'an object'
    default:
      return typeof value
  }
}
