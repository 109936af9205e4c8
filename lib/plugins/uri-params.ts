import { HydratorError } from '../errors.js'
import { redactUri } from '../util/options.js'
import type { ParsedUri } from './registry.js'

/** Rejects a query parameter the scheme does not know, listing the known ones (a typo fails loudly). */
export function checkParams(uri: ParsedUri, known: readonly string[]): void {
  for (const name of uri.params.keys()) {
    if (!known.includes(name)) {
      throw new HydratorError('ERR_INVALID_URI', `unknown parameter \`${name}\` in \`${uri.uri}\`; known: ${known.join(', ')}`)
    }
  }
}

/** An integer query parameter (>= `min`), or undefined when absent. */
export function intParam(uri: ParsedUri, name: string, min: number): number | undefined {
  const raw = uri.params.get(name)
  if (raw === null || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) {
    throw new HydratorError('ERR_INVALID_URI', `expected \`${name}\` in \`${redactUri(uri.uri)}\` to be an integer >= ${min}, got \`${raw}\``)
  }
  return n
}

/** A boolean query parameter (`true`/`1`/empty, `false`/`0`), or `fallback` when absent. */
export function boolParam(uri: ParsedUri, name: string, fallback?: boolean): boolean | undefined {
  const raw = uri.params.get(name)
  if (raw === null) return fallback
  if (raw === '' || raw === 'true' || raw === '1') return true
  if (raw === 'false' || raw === '0') return false
  throw new HydratorError('ERR_INVALID_URI', `expected \`${name}\` in \`${uri.uri}\` to be true or false, got \`${raw}\``)
}
