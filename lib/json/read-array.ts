import { createReadStream } from 'node:fs'
import { createGunzip } from 'node:zlib'
import { JSONParser } from '@streamparser/json'
import { HydratorError, errorMessage } from '../errors.js'
import { setPosition, type ElementPosition } from '../position.js'
import type { SourceOptions } from '../types.js'
import { displayPath, resolveFiles, totalSize } from './files.js'
import { assertInteger } from '../util/options.js'
import { defineSource, type StatefulSource } from '../define-source.js'

export interface ReadJsonArrayOptions extends SourceOptions {
  /** A dotted property path to the array inside the top-level object, e.g. `events` or `data.items`. */
  readonly path?: string
  /** Skip this many elements (resume): they are parsed but not yielded again. @default 0 */
  readonly startIndex?: number
  /** Resolve relative paths here. @default process.cwd() */
  readonly cwd?: string
}

/**
 * Reads a file that holds one JSON array of events (or an array under a property, `path`) as a
 * stream: elements are yielded one by one as they are parsed, so a 2 GB file never needs 2 GB of
 * memory. An element that is not an object is a failure naming the file and index; a syntax error
 * stops the read with ERR_SOURCE_READ after every element before it was yielded.
 *
 * @example
 * for await (const event of readJsonArray('export.json', { path: 'events' })) ...
 */
export function readJsonArray(file: string, options: ReadJsonArrayOptions = {}): StatefulSource<Record<string, unknown>> {
  if (typeof file !== 'string' || file === '') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected a file path, got \`${String(file)}\``)
  }
  const property = options.path?.trim()
  if (property !== undefined && !/^[^.*[\]]+(\.[^.*[\]]+)*$/.test(property)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`path\` to be a dotted property path such as \`events\`, got \`${property}\``)
  }
  const startIndex = assertInteger('startIndex', options.startIndex ?? 0, 0)
  const cwd = options.cwd ?? process.cwd()
  const jsonPath = property ? `$.${property}.*` : '$.*'

  return defineSource<Record<string, unknown>>(file, options, async function* readJsonArraySource({ stats, fail, signal }) {
    const entries = await resolveFiles(file, '*.json', cwd)
    const entry = entries.find((e) => e.problem === undefined && e.duplicateOf === undefined) ?? entries[0]!
    const full = entry.file
    const name = displayPath(full, cwd)
    if (entry.problem !== undefined) throw new HydratorError('ERR_FILE_NOT_FOUND', `cannot read \`${name}\`: ${entry.problem}`)
    stats.bytesTotal = await totalSize([entry])
    if (startIndex > 0) stats.startedAt = { kind: 'element', source: file, file: name, index: startIndex }
    const queue: unknown[] = []
    let index = 0
    let parseError: unknown
    let sawArray = false
    const parser = new JSONParser({ paths: [jsonPath], keepStack: false, stringBufferSize: 64 * 1024 })
    parser.onValue = ({ value, key }) => {
      if (typeof key === 'number') {
        sawArray = true
        queue.push(value)
      }
    }
    parser.onError = (error) => {
      parseError ??= error
    }
    const raw = createReadStream(full, { highWaterMark: 1 << 20 })
    raw.on('data', (chunk) => {
      stats.bytesRead += chunk.length
    })
    const input = full.endsWith('.gz') ? raw.pipe(createGunzip()) : raw
    try {
      for await (const chunk of input as AsyncIterable<Buffer>) {
        if (!parseError) {
          try {
            parser.write(chunk)
          } catch (error) {
            parseError ??= error
          }
        }
        for (let i = 0; i < queue.length; i++) {
          const value = queue[i]
          const position: ElementPosition = { kind: 'element', source: file, file: name, index }
          index++
          if (index <= startIndex) continue
          if (value === null || typeof value !== 'object' || Array.isArray(value)) {
            fail({ position, code: 'ERR_NOT_AN_OBJECT', message: `${name}[${index - 1}]: expected an event object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}` })
            continue
          }
          stats.read++
          yield setPosition(value as Record<string, unknown>, position)
        }
        queue.length = 0
        if (parseError) {
          throw new HydratorError('ERR_SOURCE_READ', `${name}: not a valid JSON array after element ${index - 1}: ${errorMessage(parseError)}`, { cause: parseError })
        }
        if (signal?.aborted) return
      }
      if (!parser.isEnded) {
        try {
          parser.end()
        } catch (error) {
          parseError ??= error
        }
      }
      if (parseError) {
        throw new HydratorError('ERR_SOURCE_READ', `${name}: the JSON ends early or is malformed after element ${index - 1}: ${errorMessage(parseError)}`, { cause: parseError })
      }
      if (!sawArray && index === 0) {
        // An empty array is fine; a top-level value that is not an array (at `path`) is not.
        const { readFile } = await import('node:fs/promises')
        if (stats.bytesTotal! < 1 << 20) {
          const text = (await readFile(full, 'utf8')).trim()
          let empty = false
          try {
            const parsed = JSON.parse(text) as unknown
            const target = property ? property.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], parsed) : parsed
            empty = Array.isArray(target) && target.length === 0
          } catch {
            empty = false
          }
          if (!empty) {
            throw new HydratorError('ERR_SOURCE_READ', `${name}: expected a JSON array${property ? ` at \`${property}\`` : ''}, found none`)
          }
        }
      }
    } catch (error) {
      if (error instanceof HydratorError) throw error
      throw new HydratorError('ERR_SOURCE_READ', `${name}: reading stopped after element ${index - 1}: ${errorMessage(error)}`, { cause: error })
    } finally {
      raw.destroy()
    }
  })
}
