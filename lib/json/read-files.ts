import { readFile } from 'node:fs/promises'
import { jsonKindOf } from '../util/event-value.js'
import { HydratorError, errorMessage } from '../errors.js'
import { setPosition, type FilePosition } from '../position.js'
import type { SourceOptions } from '../types.js'
import { displayPath, type FileRange, filesIn, resolveFiles } from './files.js'
import { assertInteger } from '../util/options.js'
import { defineSource, type StatefulSource } from '../define-source.js'

export interface ReadJsonFilesOptions extends SourceOptions {
  /** Which files of the folder hold events. @default '*.{event,json}' */
  readonly glob?: string
  /** Resume: skip the files before this index (in natural order). @default 0 */
  readonly startIndex?: number
  /** A larger file is a failure (ERR_LINE_TOO_LONG). @default 67108864 (64 MiB) */
  readonly maxFileBytes?: number
  /** Resolve relative paths here. @default process.cwd() */
  readonly cwd?: string
  /** Read only these files (a share of a split run); indexes count within them. */
  readonly files?: FileRange
}

/**
 * Reads a folder of one-event-per-file files (`event_1_<id>.event`, `another_event_<id>.event`) in
 * natural order (event_2 before event_10). A file that is not a JSON object is a failure naming the
 * file, and reading goes on; so is a link that cannot be read (dangling, looping: ERR_FILE_UNREADABLE).
 * Each real file is read once, under its first name in that order. Memory holds the list of names
 * and one file at a time.
 *
 * @example
 * for await (const event of readJsonFiles('./events', { glob: '*.event' })) ...
 */
export function readJsonFiles(dir: string, options: ReadJsonFilesOptions = {}): StatefulSource<Record<string, unknown>> {
  if (typeof dir !== 'string' || dir === '') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected a directory, got \`${String(dir)}\``)
  }
  const pattern = options.glob ?? '*.{event,json}'
  const startIndex = assertInteger('startIndex', options.startIndex ?? 0, 0)
  const maxFileBytes = assertInteger('maxFileBytes', options.maxFileBytes ?? 64 * 1024 * 1024, 1)
  const cwd = options.cwd ?? process.cwd()

  return defineSource<Record<string, unknown>>(dir, options, async function* readJsonFilesSource({ stats, fail, signal }) {
    // Links that cannot be read and second paths to a file stay in the list: an index names the
    // same file in a run and in its resume.
    const files = filesIn(await resolveFiles(dir, pattern, cwd), options.files, cwd)
    stats.bytesTotal = files.length // progress in files for folders
    if (startIndex > 0) stats.startedAt = { kind: 'file', source: dir, index: startIndex, file: displayPath(files[startIndex]?.file ?? dir, cwd) }
    for (let index = startIndex; index < files.length; index++) {
      if (signal?.aborted) return
      const { file, problem, duplicateOf } = files[index]!
      if (duplicateOf !== undefined) {
        stats.bytesRead = index + 1
        continue
      }
      const name = displayPath(file, cwd)
      const position: FilePosition = { kind: 'file', source: dir, file: name, index }
      if (problem !== undefined) {
        stats.bytesRead = index + 1
        fail({ position, code: 'ERR_FILE_UNREADABLE', message: `${name}: unreadable (${problem})` })
        continue
      }
      let buf: Buffer
      try {
        buf = await readFile(file)
      } catch (error) {
        fail({ position, code: 'ERR_SOURCE_READ', message: `${name}: ${errorMessage(error)}` })
        continue
      } finally {
        stats.bytesRead = index + 1
      }
      if (buf.length > maxFileBytes) {
        fail({ position, code: 'ERR_LINE_TOO_LONG', message: `${name}: the file is larger than maxFileBytes (${maxFileBytes} bytes)` })
        continue
      }
      const text = buf.toString('utf8').replace(/^\uFEFF/, '')
      if (text.trim() === '') continue
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch (error) {
        fail({ position, code: 'ERR_INVALID_JSON', message: `${name}: not JSON (${errorMessage(error)})` })
        continue
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        fail({ position, code: 'ERR_NOT_AN_OBJECT', message: `${name}: expected an event object, got ${jsonKindOf(value)}` })
        continue
      }
      stats.read++
      yield setPosition(value as Record<string, unknown>, position)
    }
  })
}
