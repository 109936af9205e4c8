// The k-way merge of sorted runs: a binary heap of run heads ordered by key, then by run (runs are
// numbered in source order, so equal keys keep their source order: the merge is stable).
import { RunReader, type RunWriter } from './spill.js'

/** A spill line: the key (raw, or as a JSON string when it holds a tab, newline, quote or backslash), a tab, the record. */
export function spillLine(key: string, record: string): string {
  return (/[\t\n\r"\\\u2028\u2029]/.test(key) ? JSON.stringify(key) : key) + '\t' + record
}

/** The key of a spill line. */
export function keyOfLine(line: string): string {
  const tab = line.indexOf('\t')
  const text = line.slice(0, tab)
  return text.charCodeAt(0) === 34 ? (JSON.parse(text) as string) : text
}

/** The record of a spill line. */
export const recordOfLine = (line: string): string => line.slice(line.indexOf('\t') + 1)

interface Head {
  key: string
  line: string
  run: number
  reader: RunReader
}

const before = (a: Head, b: Head) => a.key < b.key || (a.key === b.key && a.run < b.run)

/**
 * Merges sorted run files into one sorted sequence of lines, yielded in arrays (one await per
 * array, not per line). Each run holds one read chunk of `chunkBytes` in memory.
 */
export async function* mergeRuns(files: readonly string[], chunkBytes: number): AsyncGenerator<string[]> {
  const heap: Head[] = []
  const readers = files.map((f) => new RunReader(f, chunkBytes))
  try {
    for (let run = 0; run < readers.length; run++) {
      const reader = readers[run]!
      await reader.fill()
      const line = reader.next()
      if (line !== undefined) push(heap, { key: keyOfLine(line), line, run, reader })
    }
    let out: string[] = []
    while (heap.length > 0) {
      const top = heap[0]!
      out.push(top.line)
      let line = top.reader.next()
      if (line === undefined && !top.reader.ended) {
        if (out.length) {
          yield out
          out = []
        }
        await top.reader.fill()
        line = top.reader.next()
      }
      if (line === undefined) {
        const last = heap.pop()!
        if (heap.length > 0) {
          heap[0] = last
          down(heap, 0)
        }
      } else {
        top.line = line
        top.key = keyOfLine(line)
        down(heap, 0)
      }
      if (out.length >= 1024) {
        yield out
        out = []
      }
    }
    if (out.length) yield out
  } finally {
    await Promise.all(readers.map((r) => r.close()))
  }
}

/** Merges `files` into one new run (an intermediate pass when there are more runs than the fan-in). */
export async function mergeInto(files: readonly string[], writer: RunWriter, chunkBytes: number, aborted: () => boolean): Promise<void> {
  try {
    for await (const lines of mergeRuns(files, chunkBytes)) {
      if (aborted()) return
      for (const line of lines) await writer.write(line)
    }
  } finally {
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
