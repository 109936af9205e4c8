import path from 'node:path'
import { HydratorError } from '../errors.js'
import { toJsonLines } from './write-lines.js'
import { readJsonArray } from './read-array.js'
import { readJsonFiles } from './read-files.js'
import { readJsonLines } from './read-lines.js'
import { resolveFiles, splitFiles, type FileRange } from './files.js'
import type { Position } from '../position.js'
import type { FactoryContext, ParsedUri, Plugin } from '../registry.js'
import { boolParam, fileLocation } from '../uri.js'
import { isGlob } from '../util/local-path.js'
import { startsWithBracket } from './sniff.js'

/**
 * The options that make a JSON source start just after `position`, by its kind: `startAt` for an
 * NDJSON line (by byte offset, nothing before is read again), `startIndex` for an array element or
 * a file of a folder. Another kind of position is not this source's: ERR_CHECKPOINT_MISMATCH.
 *
 * @example
 * readJsonLines('events.ndjson', resumeOptions(checkpoint.position))
 */
export function resumeOptions(position: Position | undefined): { startAt?: { file: string; offset: number; line: number }; startIndex?: number } {
  if (!position) return {}
  if (position.kind === 'line' && position.next !== undefined) return { startAt: { file: position.file, offset: position.next, line: position.line + 1 } }
  if (position.kind === 'element' || position.kind === 'file') return { startIndex: position.index + 1 }
  throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `cannot resume a JSON source from a position of kind \`${position.kind}\``)
}

/**
 * `json:` picks the reader from what is there: `-` (stdin), `.ndjson`/`.jsonl`/`.gz` and globs are
 * NDJSON; a `.json` file starting with `[` (or with `?path=`) is one array; a folder with NDJSON
 * files reads them all, else its one-event files (`*.event`, `*.json`). `?format=lines|array|files`
 * overrides the guess.
 */
async function jsonSource(uri: ParsedUri, context: FactoryContext, forceLines = false) {
  const location = fileLocation(uri)
  if (!location) throw new HydratorError('ERR_INVALID_URI', `\`${uri.uri}\` names no file: use e.g. \`json:./events.ndjson\` or \`json:-\``)
  const format = forceLines ? 'lines' : uri.params.get('format')
  const range = shareRange(context)
  const common = {
    ...(range ? { files: range } : {}), cwd: context.cwd, ...(context.stdin ? { stdin: context.stdin } : {}), maxFailures: numberParam(context.flags.maxFailures), ...resumeOptions(context.resume),
    // NDJSON only: find lines on a worker thread (`?workers=true|false`; by size and filter when absent).
    ...(uri.params.has('workers') ? { workers: boolParam(uri, 'workers') } : {}) }
  const glob = uri.params.get('glob') ?? undefined
  if (format === 'lines' || location === '-') return readJsonLines(location, { ...common, glob })
  if (format === 'array') return readJsonArray(location, { ...common, path: uri.params.get('path') ?? undefined })
  if (format === 'files') return readJsonFiles(location, { ...common, glob })
  if (format) throw new HydratorError('ERR_INVALID_URI', `unknown \`format=${format}\` in \`${uri.uri}\`: use lines, array or files`)
  if (isGlob(location) || /\.(ndjson|jsonl)(\.gz)?$|\.gz$/i.test(location)) return readJsonLines(location, { ...common, glob })
  const files = await resolveFiles(location, '*', context.cwd)
  const isDir = files.length !== 1 || files[0]!.file !== path.resolve(context.cwd, location)
  if (isDir) {
    // Names decide, also of links that cannot be read: a folder of NDJSON links that all dangle
    // is read as NDJSON, and each link is reported.
    const lines = files.some((f) => /\.(ndjson|jsonl)(\.gz)?$/i.test(f.file))
    return lines ? readJsonLines(location, { ...common, glob }) : readJsonFiles(location, { ...common, glob })
  }
  if (range) throw new HydratorError('ERR_SHARES_UNSUPPORTED', `\`${uri.uri}\` is one file: shares split a folder or a glob of files`)
  if (uri.params.has('path')) return readJsonArray(location, { ...common, path: uri.params.get('path')! })
  return (await startsWithBracket(files[0]!.file)) ? readJsonArray(location, common) : readJsonLines(location, common)
}

function shareRange(context: FactoryContext): FileRange | undefined {
  if (!context.share) return undefined
  const files = (context.share.part as { files?: FileRange }).files
  if (!files || typeof files !== 'object' || !('from' in files) || !('before' in files)) {
    throw new HydratorError('ERR_SHARE_MISMATCH', '--share: not a share of JSON files (expected { files: { from, before } } in its part)')
  }
  return files
}

/**
 * A folder or glob of files split `count` ways: ranges of whole files in natural order, about equal
 * in bytes. Every event of a file is in one share; events of one key in several files may not be.
 */
async function jsonShares(uri: ParsedUri, count: number, context: FactoryContext) {
  const location = fileLocation(uri)
  if (!location || location === '-') throw new HydratorError('ERR_SHARES_UNSUPPORTED', `\`${uri.uri}\`: stdin cannot be split into shares`)
  const format = uri.params.get('format')
  const pattern = uri.params.get('glob') ?? (format === 'files' ? '*.{event,json}' : '*')
  const files = (await resolveFiles(location, pattern, context.cwd)).filter((f) => f.duplicateOf === undefined)
  if (files.length === 1 && files[0]!.file === path.resolve(context.cwd, location)) {
    throw new HydratorError('ERR_SHARES_UNSUPPORTED', `\`${uri.uri}\` is one file: shares split a folder or a glob of files (one file keeps its order in one share)`)
  }
  return (await splitFiles(files, count, context.cwd)).map((files) => ({ files }))
}

function numberParam(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

function ndjsonSink(uri: ParsedUri, context: FactoryContext) {
  const location = fileLocation(uri)
  if (!location) throw new HydratorError('ERR_INVALID_URI', `\`${uri.uri}\` names no file: use e.g. \`ndjson:./out.ndjson\` or \`ndjson:-\``)
  return toJsonLines(location, {
    cwd: context.cwd,
    ...(context.stdout ? { stdout: context.stdout } : {}),
    append: uri.params.get('append') === 'true',
    ...(typeof (context.resumeSink as { bytes?: unknown } | undefined)?.bytes === 'number' && location !== '-'
      ? { truncateTo: (context.resumeSink as { bytes: number }).bytes }
      : {}),
    ...(context.batchSize ? { batchSize: context.batchSize } : {}),
  })
}

/** The JSON and NDJSON schemes: sources `json:`, `ndjson:`; sinks `ndjson:`, `json:` (both write NDJSON). */
export const jsonPlugin: Plugin = {
  name: 'json',
  sources: {
    json: (uri, context) => jsonSource(uri, context),
    ndjson: (uri, context) => jsonSource(uri, context, true),
    jsonl: (uri, context) => jsonSource(uri, context, true),
  },
  sinks: { ndjson: ndjsonSink, json: ndjsonSink, jsonl: ndjsonSink },
  shares: { json: jsonShares, ndjson: jsonShares, jsonl: jsonShares },
}
