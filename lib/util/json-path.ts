import { HydratorError } from '../errors.js'

/** A compiled getter for a dotted path: `detail.aggregateId`, `detail.items[0].sku`, `.` (the whole value). */
export type PathGetter = (value: unknown) => unknown

/**
 * Compiles a dotted path once. Segments are split on `.`; `[n]` indexes arrays; a segment may hold
 * any other character (`detail-type`). `.` or `$` alone is the whole value.
 */
export function compilePath(path: string): PathGetter {
  if (typeof path !== 'string' || path.trim() === '') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected a JSON path such as \`detail.id\`, got \`${String(path)}\``)
  }
  const trimmed = path.trim().replace(/^\$\.?/, '')
  if (trimmed === '' || trimmed === '.') return (value) => value
  const segments: (string | number)[] = []
  for (const part of trimmed.split('.')) {
    if (part === '') throw new HydratorError('ERR_INVALID_OPTION', `empty segment in JSON path \`${path}\``)
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part)
    if (!m) throw new HydratorError('ERR_INVALID_OPTION', `cannot read JSON path \`${path}\` at \`${part}\``)
    if (m[1]) segments.push(m[1])
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) segments.push(Number(idx[1]))
  }
  return (value) => {
    let current = value
    for (let i = 0; i < segments.length; i++) {
      if (current === null || typeof current !== 'object') return undefined
      current = (current as Record<string | number, unknown>)[segments[i]!]
    }
    return current
  }
}
