// JSON for values that may hold binary data (DynamoDB B keys in checkpoint cursors and positions):
// a Uint8Array (or Buffer) is written as `{ "$binary": "<base64>" }` and read back as a Uint8Array.
// Plain JSON.stringify would write a Uint8Array as `{"0":1,"1":2}` and a Buffer as
// `{"type":"Buffer","data":[...]}`, which DynamoDB then reads as a map: a resumed scan would fail.

const TAG = '$binary'

function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // `this[key]` is the value before its toJSON (Buffer has one) was called.
  const raw = this[key]
  if (raw instanceof Uint8Array) return { [TAG]: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') }
  return value
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const tagged = (value as Record<string, unknown>)[TAG]
    if (typeof tagged === 'string' && Object.keys(value).length === 1) return new Uint8Array(Buffer.from(tagged, 'base64'))
  }
  return value
}

/** JSON.stringify that writes binary values as `{ "$binary": base64 }`. */
export function stringifyTagged(value: unknown, space?: number): string {
  return JSON.stringify(value, replacer, space)
}

/** JSON.parse that reads `{ "$binary": base64 }` back as a Uint8Array. */
export function parseTagged(text: string): unknown {
  return JSON.parse(text, reviver)
}

/** Replaces `{ "$binary": base64 }` objects inside an already parsed value by Uint8Arrays, in place. */
export function reviveTagged(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  const revived = reviver('', value)
  if (revived !== value) return revived
  const entries = value as Record<string, unknown>
  for (const key of Object.keys(entries)) entries[key] = reviveTagged(entries[key])
  return value
}
