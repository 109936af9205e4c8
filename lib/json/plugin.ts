import path from 'node:path'
import { resumeOptions } from '../checkpoint/index.js'
import { HydratorError } from '../errors.js'
import { toJsonLines } from './write-lines.js'
import { readJsonArray } from './read-array.js'
import { readJsonFiles } from './read-files.js'
import { readJsonLines } from './read-lines.js'
import { resolveFiles } from './files.js'
import type { FactoryContext, ParsedUri, Plugin } from '../registry.js'
import { decodeUriPart } from '../uri.js'
import { startsWithBracket } from './sniff.js'

/**
 * `json:` picks the reader from what is there: `-` (stdin), `.ndjson`/`.jsonl`/`.gz` and globs are
 * NDJSON; a `.json` file starting with `[` (or with `?path=`) is one array; a folder with NDJSON
 * files reads them all, else its one-event files (`*.event`, `*.json`). `?format=lines|array|files`
 * overrides the guess.
 */
async function jsonSource(uri: ParsedUri, context: FactoryContext, forceLines = false) {
  const location = decodeUriPart(uri, uri.path, 'the file name')
  if (!location) throw new HydratorError('ERR_INVALID_URI', `\`${uri.uri}\` names no file: use e.g. \`json:./events.ndjson\` or \`json:-\``)
  const format = forceLines ? 'lines' : uri.params.get('format')
  const common = { cwd: context.cwd, ...(context.stdin ? { stdin: context.stdin } : {}), maxFailures: numberParam(context.flags.maxFailures), ...resumeOptions(context.resume) }
  const glob = uri.params.get('glob') ?? undefined
  if (format === 'lines' || location === '-') return readJsonLines(location, { ...common, glob })
  if (format === 'array') return readJsonArray(location, { ...common, path: uri.params.get('path') ?? undefined })
  if (format === 'files') return readJsonFiles(location, { ...common, glob })
  if (format) throw new HydratorError('ERR_INVALID_URI', `unknown \`format=${format}\` in \`${uri.uri}\`: use lines, array or files`)
  if (/[*?[\]{}]/.test(location) || /\.(ndjson|jsonl)(\.gz)?$|\.gz$/i.test(location)) return readJsonLines(location, { ...common, glob })
  const files = await resolveFiles(location, '*', context.cwd)
  const isDir = files.length !== 1 || files[0]!.file !== path.resolve(context.cwd, location)
  if (isDir) {
    // Names decide, also of links that cannot be read: a folder of NDJSON links that all dangle
    // is read as NDJSON, and each link is reported.
    const lines = files.some((f) => /\.(ndjson|jsonl)(\.gz)?$/i.test(f.file))
    return lines ? readJsonLines(location, { ...common, glob }) : readJsonFiles(location, { ...common, glob })
  }
  if (uri.params.has('path')) return readJsonArray(location, { ...common, path: uri.params.get('path')! })
  return (await startsWithBracket(files[0]!.file)) ? readJsonArray(location, common) : readJsonLines(location, common)
}

function numberParam(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

function ndjsonSink(uri: ParsedUri, context: FactoryContext) {
  const location = decodeUriPart(uri, uri.path, 'the file name')
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
}
