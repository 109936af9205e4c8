// How events are held for sorting: as bytes in one buffer (not as strings and objects on the JS heap,
// where they would be promoted and then walked by the garbage collector again and again), each
// entry laid out as a record of a run: `[u32 key bytes][key as UTF-16LE][u32 position bytes][u32 event
// bytes][position][event JSON]`. Sorting moves offsets and compares keys where they lie; spilling
// copies whole entries in key order.
import type { Position } from '../position.js'
import type { PositionCodec } from './position-codec.js'
import type { RunWriter } from './spill.js'

/**
 * Per held event, besides its bytes: its offset and size (with room to grow), and while the run is
 * sorted two numbers and two indexes (sortByKey).
 */
const ENTRY_OVERHEAD = 40

/**
 * The events of one run while they are read, up to `budgetBytes`: entries appended to one buffer
 * (of the budget, or of one entry that is bigger) that is reused for the next run.
 */
export class HeldRun {
  // The entries, then (from #capacity) two regions of OUT bytes where a run is put together for
  // writing: one buffer, so each entry is copied with copyWithin (no view object per copy).
  #arena: Buffer = Buffer.allocUnsafe(0)
  /** The same bytes as UTF-16 code units: entries start at even offsets, so their keys can be compared as such. */
  #units = new Uint16Array(0)
  #capacity = 0
  #used = 0
  /** Where each entry starts, and its bytes, in source order. */
  #starts = new Int32Array(1024)
  #sizes = new Int32Array(1024)
  #count = 0
  /** Bytes counted against the budget: entries and their bookkeeping. */
  bytes = 0
  /** Lowered (never raised) while reading, when part of the memory goes elsewhere (a worker thread). */
  budgetBytes: number

  constructor(
    readonly codec: PositionCodec,
    budgetBytes: number,
  ) {
    // Offsets are 32-bit: a bigger budget spills runs of 2 GB.
    this.budgetBytes = Math.min(budgetBytes, MAX_CAPACITY)
  }

  /** True once the run holds more than its budget: time to spill it. */
  get full(): boolean {
    return this.bytes > this.budgetBytes
  }

  get length(): number {
    return this.#count
  }

  /** Bytes this run takes on disk: its entries as they are. */
  get diskBytes(): number {
    return this.#used
  }

  /** Holds an event: its key, its position (after `codec.prepare`, which gave `positionBytes`) and its JSON text. */
  add(key: string, positionBytes: number, text: string): void {
    const start = this.#used
    const head = 12 + 2 * key.length + positionBytes + 1
    if (start + head + 3 * text.length > this.#capacity) {
      const need = start + head + Buffer.byteLength(text)
      if (need > this.#capacity) this.#grow(need)
    }
    if (this.#count === this.#starts.length) this.#growIndex()
    const arena = this.#arena
    const units = this.#units
    // The key as UTF-16 code units, at an even offset.
    arena.writeUInt32LE(2 * key.length, start)
    const first = (start + 4) >> 1
    for (let i = 0; i < key.length; i++) units[first + i] = key.charCodeAt(i)
    const at = start + 4 + 2 * key.length
    arena.writeUInt32LE(positionBytes, at)
    this.codec.write(arena, at + 8, positionBytes)
    const textAt = at + 8 + positionBytes
    let n = arena.write(text, textAt, this.#capacity - textAt)
    // A space after the JSON (which parses the same) when needed to keep the next entry at an even offset.
    if ((textAt + n) & 1) arena[textAt + n++] = 0x20
    arena.writeUInt32LE(n, at + 4)
    this.#used = textAt + n
    this.#starts[this.#count] = start
    this.#sizes[this.#count++] = this.#used - start
    this.bytes += this.#used - start + ENTRY_OVERHEAD
  }

  /**
   * Holds records made elsewhere (`RecordEncoder`, on a worker thread): those of `bytes` from
   * record `from` on, where record i ends at `ends[i]`, up to the one that fills the run. Returns
   * the index of the first record not held (`ends.length` when all are).
   */
  addRecords(bytes: Buffer, ends: Int32Array, from: number): number {
    const begin = from === 0 ? 0 : ends[from - 1]!
    let total = this.bytes
    let end = begin
    let i = from
    while (i < ends.length) {
      total += ends[i]! - end + ENTRY_OVERHEAD
      end = ends[i++]!
      if (total > this.budgetBytes) break
    }
    const start = this.#used
    if (start + end - begin > this.#capacity) this.#grow(start + end - begin)
    while (this.#count + i - from > this.#starts.length) this.#growIndex()
    bytes.copy(this.#arena, start, begin, end)
    let at = begin
    for (let k = from; k < i; k++) {
      this.#starts[this.#count] = start + at - begin
      this.#sizes[this.#count++] = ends[k]! - at
      at = ends[k]!
    }
    this.#used = start + end - begin
    this.bytes = total
    return i
  }

  #growIndex(): void {
    const starts = new Int32Array(2 * this.#starts.length)
    starts.set(this.#starts)
    this.#starts = starts
    const sizes = new Int32Array(2 * this.#sizes.length)
    sizes.set(this.#sizes)
    this.#sizes = sizes
  }

  // 64 KB first (a small source stays small), then the whole budget at once: pages not yet written
  // take no memory, and there is never an old and a new copy of a big buffer alive together.
  #grow(need: number): void {
    const capacity = Math.max(need, this.#capacity < 1 << 16 ? 1 << 16 : this.budgetBytes)
    const bigger = Buffer.allocUnsafe(capacity + 2 * OUT)
    this.#arena.copy(bigger, 0, 0, this.#used)
    this.#arena = bigger
    this.#units = new Uint16Array(bigger.buffer, bigger.byteOffset, bigger.length >>> 1)
    this.#capacity = capacity
  }

  /** The entries' indexes in key order; equal keys keep their source order. */
  order(inOrder: boolean): Int32Array {
    if (!inOrder) return sortByKey(this.#units, this.#starts.subarray(0, this.#count))
    const order = new Int32Array(this.#count)
    for (let i = 0; i < order.length; i++) order[i] = i
    return order
  }

  /** What `read` gives for entry `i`: `read` gets the buffer, where the entry goes on after its key, and whether its key is empty. */
  entry<R>(i: number, read: (buffer: Buffer, at: number, keyless: boolean) => R): R {
    const start = this.#starts[i]!
    const keyBytes = this.#arena.readUInt32LE(start)
    return read(this.#arena, start + 4 + keyBytes, keyBytes === 0)
  }

  /**
   * Writes the entries in `order` (indexes) to a run: put together in one of two regions after the
   * entries, the other one being written meanwhile.
   */
  async writeTo(writer: RunWriter, order: Int32Array): Promise<void> {
    const arena = this.#arena
    let base = this.#capacity
    let o = base
    let pending: Promise<void> | undefined
    const send = async () => {
      await pending
      pending = writer.writeBytes(arena.subarray(base, o))
      pending.catch(() => {})
      base = base === this.#capacity ? base + OUT : this.#capacity
      o = base
    }
    const starts = this.#starts
    const sizes = this.#sizes
    for (let j = 0; j < order.length; j++) {
      const start = starts[order[j]!]!
      const size = sizes[order[j]!]!
      if (o + size > base + OUT) {
        if (o > base) await send()
        if (size > OUT) {
          // Bigger than a region: written from where it is.
          await pending
          pending = undefined
          await writer.writeBytes(arena.subarray(start, start + size))
          continue
        }
      }
      arena.copyWithin(o, start, start + size)
      o += size
    }
    if (o > base) await send()
    await pending
  }

  /** Empties the run, keeping the buffer for the next one. */
  clear(): void {
    this.#used = 0
    this.#count = 0
    this.bytes = 0
  }

  /** Empties the run and lets its buffer go. */
  release(): void {
    this.clear()
    this.#arena = Buffer.allocUnsafe(0)
    this.#units = new Uint16Array(0)
    this.#capacity = 0
    this.#starts = new Int32Array(1024)
    this.#sizes = new Int32Array(1024)
  }
}

/** True when the key of the entry at byte `x` sorts before the one at `y` (by UTF-16 code units, as `<` compares strings). */
function keyBefore(u: Uint16Array, x: number, y: number): boolean {
  x >>= 1
  y >>= 1
  const lx = (u[x]! | (u[x + 1]! << 16)) >> 1
  const ly = (u[y]! | (u[y + 1]! << 16)) >> 1
  const end = lx < ly ? lx : ly
  for (let i = 2; i < end + 2; i++) {
    const cx = u[x + i]!
    const cy = u[y + i]!
    if (cx !== cy) return cx < cy
  }
  return lx < ly
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** The length in code units of the key at code unit `x`. */
const keyLength = (u: Uint16Array, x: number) => (u[x]! | (u[x + 1]! << 16)) >> 1

/**
 * The indexes of the entries at `starts` in the order of their keys, stably. Keys are compared where
 * they lie in the buffer (no key strings on the heap). Each entry becomes one 64-bit number: the
 * code units that follow the prefix all keys share, packed as few bits each as their range needs,
 * then the entry's index; those are sorted natively (BigUint64Array), and only entries whose
 * numbers tie while their keys go on are compared in full (in index order, so stably).
 */
export function sortByKey(units: Uint16Array, starts: Int32Array): Int32Array {
  const n = starts.length
  if (n === 0) return new Int32Array(0)
  if (!LITTLE_ENDIAN) return mergeSortByKey(units, starts, Int32Array.from({ length: n }, (_, i) => i))
  // The prefix every key shares.
  const first = starts[0]! >> 1
  let shared = keyLength(units, first)
  for (let i = 1; i < n && shared > 0; i++) {
    const x = starts[i]! >> 1
    const length = keyLength(units, x)
    let j = 0
    const end = length < shared ? length : shared
    while (j < end && units[x + 2 + j] === units[first + 2 + j]) j++
    shared = j
  }
  // The range of the code units after it (of as many as could be packed).
  let min = 0xffff
  let max = 0
  for (let i = 0; i < n; i++) {
    const x = starts[i]! >> 1
    const at = x + 2 + shared
    const end = at + Math.min(keyLength(units, x) - shared, 8)
    for (let k = at; k < end; k++) {
      const c = units[k]!
      if (c < min) min = c
      if (c > max) max = c
    }
  }
  const indexBits = Math.max(1, 32 - Math.clz32(n - 1))
  // Each code unit as 1 + (unit - min); 0: the key ended.
  const bits = max >= min ? 32 - Math.clz32(max - min + 1) : 1
  const chars = Math.min(8, Math.floor((64 - indexBits) / bits))
  const packed = new BigUint64Array(n)
  const words = new Uint32Array(packed.buffer)
  let partial = false
  for (let i = 0; i < n; i++) {
    const x = starts[i]! >> 1
    const rest = keyLength(units, x) - shared
    if (rest > chars) partial = true
    const at = x + 2 + shared
    let hi = 0
    let lo = 0
    for (let k = 0; k < chars && k < rest; k++) {
      const v = units[at + k]! - min + 1
      const pos = 64 - (k + 1) * bits
      if (pos >= 32) hi |= v << (pos - 32)
      else if (pos + bits <= 32) lo |= v << pos
      else {
        hi |= v >>> (32 - pos)
        lo |= v << pos
      }
    }
    words[2 * i] = (lo | i) >>> 0
    words[2 * i + 1] = hi >>> 0
  }
  packed.sort()
  const order = new Int32Array(n)
  const mask = indexBits === 32 ? -1 : (1 << indexBits) - 1
  for (let k = 0; k < n; k++) order[k] = words[2 * k]! & mask
  if (!partial) return order
  // Equal numbers, keys that may go on: compared in full, in index order.
  for (let a = 0; a < n; ) {
    const hi = words[2 * a + 1]
    const lo = words[2 * a]! >>> indexBits
    let b = a + 1
    while (b < n && words[2 * b + 1] === hi && words[2 * b]! >>> indexBits === lo) b++
    if (b - a > 1) order.set(mergeSortByKey(units, starts, order.subarray(a, b)), a)
    a = b
  }
  return order
}

/** The entries `indexes` (in index order) sorted stably by their whole keys: insertion sorts of 32, then merges. */
function mergeSortByKey(units: Uint16Array, starts: Int32Array, indexes: Int32Array): Int32Array {
  const n = indexes.length
  const before = (i: number, j: number) => keyBefore(units, starts[i]!, starts[j]!)
  let a = Int32Array.from(indexes)
  const SMALL = 32
  for (let start = 0; start < n; start += SMALL) {
    const end = Math.min(start + SMALL, n)
    for (let i = start + 1; i < end; i++) {
      const v = a[i]!
      let j = i - 1
      while (j >= start && before(v, a[j]!)) {
        a[j + 1] = a[j]!
        j--
      }
      a[j + 1] = v
    }
  }
  if (n <= SMALL) return a
  let b = new Int32Array(n)
  for (let width = SMALL; width < n; width *= 2) {
    for (let start = 0; start < n; start += 2 * width) {
      const mid = Math.min(start + width, n)
      const end = Math.min(start + 2 * width, n)
      let i = start
      let j = mid
      let k = start
      // Equal keys: the left one first (stable).
      if (mid < end && before(a[mid]!, a[mid - 1]!)) {
        while (i < mid && j < end) b[k++] = before(a[j]!, a[i]!) ? a[j++]! : a[i++]!
      }
      while (i < mid) b[k++] = a[i++]!
      while (j < end) b[k++] = a[j++]!
    }
    const t = a
    a = b
    b = t
  }
  return a
}

/** Each of the two regions after the entries where a run is put together for writing. */
const OUT = 1 << 20
const MAX_CAPACITY = 2 ** 31 - 2 * OUT - 2

/** The position of the entry at `at` (just after its key). */
export function recordPosition(codec: PositionCodec, buffer: Buffer, at: number): Position | undefined {
  return codec.read(buffer, at + 8, buffer.readUInt32LE(at))
}

/** Where the JSON text of the entry at `at` starts and ends in `buffer`, without the blank that pads it to an even length. */
export function recordText(buffer: Buffer, at: number): [number, number] {
  const start = at + 8 + buffer.readUInt32LE(at)
  const end = start + buffer.readUInt32LE(at + 4)
  return [start, end > start && buffer[end - 1] === 0x20 ? end - 1 : end]
}

/** The position and event of the entry at `at` (its text without the padding blank). */
export function readEntry(codec: PositionCodec, buffer: Buffer, at: number, parse: (text: string) => unknown): [Position | undefined, unknown] {
  const [start, end] = recordText(buffer, at)
  return [recordPosition(codec, buffer, at), parse(buffer.toString('utf8', start, end))]
}
