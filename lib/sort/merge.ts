// The k-way merge of sorted runs: a binary heap of run heads ordered by key, then by run (runs are
// numbered in source order, so equal keys keep their source order: the merge is stable).
import { RunReader, type RunWriter, type SpillFolder } from './spill.js'

interface Head {
  key: string
  run: number
  reader: RunReader
  /** Bytes of the record at `reader.at`. */
  size: number
}

const before = (a: Head, b: Head) => a.key < b.key || (a.key === b.key && a.run < b.run)

/**
 * Merges sorted run files record by record. {@link top} is the least record (its bytes in
 * `top.reader.buffer` from `top.reader.at`, `top.size` long) until {@link advance}; when a run's buffer
 * runs dry, `advance` answers false and {@link refill} must be awaited before the next `top`. Each
 * run holds one read chunk of `chunkBytes` in memory.
 */
export class RunMerge {
  readonly #heap: Head[] = []
  readonly #readers: RunReader[]
  #dry: Head | undefined

  /** `keep`: a record read stays where it is after the run reads on (see RunReader). */
  constructor(files: readonly string[], chunkBytes: number, keep = false) {
    this.#readers = files.map((f) => new RunReader(f, chunkBytes, keep))
  }

  /** Reads the first record of every run. */
  async open(): Promise<void> {
    for (let run = 0; run < this.#readers.length; run++) {
      const reader = this.#readers[run]!
      await reader.fill()
      const size = reader.size()
      if (size > 0) push(this.#heap, { key: reader.key(), run, reader, size })
    }
  }

  /** The least record not yet taken, or undefined when all runs are merged. */
  get top(): Head | undefined {
    return this.#heap[0]
  }

  /** Takes the top record; false when the next one can only be had after {@link refill}. */
  advance(): boolean {
    const heap = this.#heap
    const top = heap[0]!
    const reader = top.reader
    reader.skip(top.size)
    const size = reader.size()
    if (size > 0) {
      top.size = size
      top.key = reader.key()
      down(heap, 0)
      return true
    }
    const last = heap.pop()!
    if (heap.length > 0 && last !== top) {
      heap[0] = last
      down(heap, 0)
    }
    if (reader.ended) return true
    this.#dry = top
    return false
  }

  /** Reads on in the run that ran dry, and puts its next record back among the heads. */
  async refill(): Promise<void> {
    const head = this.#dry
    this.#dry = undefined
    if (!head) return
    await head.reader.fill()
    const size = head.reader.size()
    if (size === 0) return
    head.size = size
    head.key = head.reader.key()
    push(this.#heap, head)
  }

  async close(): Promise<void> {
    await Promise.all(this.#readers.map((r) => r.close()))
  }
}

/**
 * The runs spilled to `folder`, merged in intermediate passes (groups of `fanIn` into new runs)
 * until at most `fanIn` are left: their files, or undefined when `aborted` stopped it.
 */
export async function mergeDown(folder: SpillFolder, fanIn: number, chunkBytes: number, aborted: () => boolean): Promise<string[] | undefined> {
  let files = Array.from({ length: folder.runs }, (_, i) => `${folder.dir}/run-${String(i).padStart(6, '0')}`)
  while (files.length > fanIn) {
    const next: string[] = []
    for (let i = 0; i < files.length; i += fanIn) {
      const group = files.slice(i, i + fanIn)
      if (group.length === 1) next.push(group[0]!)
      else {
        const writer = await folder.create()
        await mergeInto(group, writer, chunkBytes, aborted)
        if (aborted()) return undefined
        next.push(writer.file)
      }
    }
    files = next
  }
  return files
}

/** Merges `files` into one new run (an intermediate pass when there are more runs than the fan-in). */
async function mergeInto(files: readonly string[], writer: RunWriter, chunkBytes: number, aborted: () => boolean): Promise<void> {
  const merge = new RunMerge(files, chunkBytes)
  try {
    await merge.open()
    let n = 0
    for (let top = merge.top; top; top = merge.top) {
      if (!writer.fits(top.size)) {
        if (aborted()) return
        await writer.flush(top.size)
      }
      writer.copy(top.reader.buffer, top.reader.at, top.reader.at + top.size)
      if (!merge.advance()) await merge.refill()
      else if (++n % 4096 === 0 && aborted()) return
    }
  } finally {
    await merge.close()
    await writer.close()
  }
}

function push(heap: Head[], head: Head): void {
  heap.push(head)
  let i = heap.length - 1
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (!before(heap[i]!, heap[parent]!)) break
    ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
    i = parent
  }
}

function down(heap: Head[], i: number): void {
  const n = heap.length
  for (;;) {
    const l = 2 * i + 1
    const r = l + 1
    let m = i
    if (l < n && before(heap[l]!, heap[m]!)) m = l
    if (r < n && before(heap[r]!, heap[m]!)) m = r
    if (m === i) return
    ;[heap[i], heap[m]] = [heap[m]!, heap[i]!]
    i = m
  }
}
