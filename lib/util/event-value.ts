/** True for what can be an event: a JSON object (not null, not an array). */
export function isEventObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** What a parsed JSON value is, for messages: `an array`, `null`, `string`, `number`, ... */
export function jsonKindOf(value: unknown): string {
  return Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value
}
