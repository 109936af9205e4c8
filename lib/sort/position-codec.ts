// Positions as bytes, for held and spilled records (record.ts): a line position (NDJSON sources, the
// common case) as its numbers and the index of its source and file in a table, any other as JSON.
import type { Position } from '../position.js'

const NONE = 0x4e // N: no position
const LINE = 0x4c // L: u32 file, f64 line, offset, next: a line position whose source and file are in the table
const JSON_TEXT = 0x4a // J: the position as JSON
/** Bytes of a line position. */
export const LINE_BYTES = 1 + 4 + 24
const LINE_KEYS = ['kind', 'source', 'file', 'line', 'offset', 'next']
const MAX_FILES = 1 << 16

/**
 * Positions as bytes: a line position (NDJSON sources, the common case) as its numbers and the index
 * of its source and file in a table, any other as JSON. Decoding gives an equal object, keys in the
 * same order.
 */
export class PositionCodec {
  readonly #names: { source: string; file: string }[] = []
  readonly #ids = new Map<string, number>()
  #lastSource = ''
  #lastFile = ''
  #lastId = -1
  #text = ''
  #line: Position | undefined

  constructor(
    readonly stringify: (value: unknown) => string,
    readonly parse: (text: string) => unknown,
  ) {}

  /** The size in bytes of the position last {@link prepare}d. */
  prepared = 1

  /** Readies `position` for {@link write}: its size in bytes. Throws what `stringify` throws. */
  prepare(position: Position | undefined): number {
    this.#line = undefined
    if (!position) return (this.prepared = 1)
    if (position.kind === 'line' && this.#lineId(position) >= 0) {
      this.#line = position
      return (this.prepared = LINE_BYTES)
    }
    this.#text = this.stringify(position)
    return (this.prepared = 1 + Buffer.byteLength(this.#text))
  }

  /** Writes the position last {@link prepare}d at `at` (its size is there). */
  write(buffer: Buffer, at: number, size: number): void {
    if (size === 1) buffer[at] = NONE
    else if (this.#line) {
      const p = this.#line as Position & { line: number; offset: number; next: number }
      writeLinePosition(buffer, at, this.#lastId, p.line, p.offset, p.next)
    } else {
      buffer[at] = JSON_TEXT
      buffer.write(this.#text, at + 1)
    }
  }

  /** The position written at `at` (`size` bytes), or undefined. */
  read(buffer: Buffer, at: number, size: number): Position | undefined {
    const tag = buffer[at]
    if (tag === LINE) {
      const { source, file } = this.#names[buffer.readUInt32LE(at + 1)]!
      return { kind: 'line', source, file, line: buffer.readDoubleLE(at + 5), offset: buffer.readDoubleLE(at + 13), next: buffer.readDoubleLE(at + 21) }
    }
    if (tag === JSON_TEXT) return this.parse(buffer.toString('utf8', at + 1, at + size)) as Position
    return undefined
  }

  /** The table index of a line position's source and file (added if new), or -1 when it has other fields. */
  #lineId(p: Position): number {
    let i = 0
    for (const name in p) if (name !== LINE_KEYS[i++]) return -1
    const { source, file, line, offset, next } = p as Position & { file: unknown; line: unknown; offset: unknown; next: unknown }
    if (i !== 6 || typeof source !== 'string' || typeof file !== 'string' || typeof line !== 'number' || typeof offset !== 'number' || typeof next !== 'number') return -1
    return this.fileId(source, file)
  }

  /**
   * The table index of the line positions of `file` in `source` (added if new), or -1 when the table
   * is full: records made elsewhere (`RecordEncoder`) write it, and {@link read} gives back
   * `{ kind: 'line', source, file, line, offset, next }`.
   */
  fileId(source: string, file: string): number {
    if (source === this.#lastSource && file === this.#lastFile && this.#lastId >= 0) return this.#lastId
    const name = `${source}\u0000${file}`
    let id = this.#ids.get(name)
    if (id === undefined) {
      if (this.#names.length >= MAX_FILES) return -1
      id = this.#names.length
      this.#names.push({ source, file })
      this.#ids.set(name, id)
    }
    this.#lastSource = source
    this.#lastFile = file
    this.#lastId = id
    return id
  }
}

/** Writes a line position (LINE_BYTES) at `at`: the table index of its source and file, and its numbers. */
export function writeLinePosition(buffer: Buffer, at: number, fileId: number, line: number, offset: number, next: number): void {
  buffer[at] = LINE
  buffer.writeUInt32LE(fileId, at + 1)
  buffer.writeDoubleLE(line, at + 5)
  buffer.writeDoubleLE(offset, at + 13)
  buffer.writeDoubleLE(next, at + 21)
}
