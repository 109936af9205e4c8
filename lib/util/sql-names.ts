import { HydratorError } from '../errors.js'

/** One part of a qualified name: its text without quotes, and whether it was quoted. */
export interface NamePart {
  readonly name: string
  readonly quoted: boolean
}

/**
 * Splits a qualified SQL name on dots outside quotes: `schema.table`, `"My Schema"."a.b"`
 * (PostgreSQL, `""` inside for a `"`) or `[sales data].[orders]` (SQL Server, `]]` for a `]`).
 * Unquoted parts are trimmed; an empty part, an unclosed quote, a stray quote character, or more
 * than `maxParts` parts throws ERR_INVALID_OPTION echoing the text.
 *
 * @example
 * splitQualifiedName('"My Schema".users', { open: '"', close: '"' }) // [{ name: 'My Schema', quoted: true }, { name: 'users', quoted: false }]
 */
export function splitQualifiedName(
  text: string,
  { open, close, maxParts = 2, what = 'table', example = 'schema.table' }: { open: string; close: string; maxParts?: number; what?: string; example?: string },
): NamePart[] {
  const bad = (why: string) => new HydratorError('ERR_INVALID_OPTION', `expected \`${what}\` to be \`${example.split('.').pop()}\` or \`${example}\`${why ? ` (${why})` : ''}, got \`${text}\``)
  const s = text.trim()
  const parts: NamePart[] = []
  let i = 0
  while (i <= s.length) {
    if (s[i] === open) {
      let part = ''
      i++
      for (;;) {
        if (i >= s.length) throw bad(`an unclosed \`${open}\``)
        if (s[i] === close) {
          if (s[i + 1] === close) {
            part += close
            i += 2
            continue
          }
          i++
          break
        }
        part += s[i++]
      }
      if (part === '') throw bad('an empty name')
      parts.push({ name: part, quoted: true })
    } else {
      const end = s.indexOf('.', i)
      const part = (end === -1 ? s.slice(i) : s.slice(i, end)).trim()
      if (part === '') throw bad(i === 0 ? '' : 'an empty name')
      if (part.includes(open) || part.includes(close)) throw bad(`quote a name with ${open} ${close} as a whole`)
      parts.push({ name: part, quoted: false })
      i = end === -1 ? s.length : end
    }
    if (i >= s.length) break
    if (s[i] !== '.') throw bad(`unexpected \`${s[i]}\``)
    i++
    if (i >= s.length) throw bad('it ends with a dot')
  }
  if (parts.length === 0 || parts.length > maxParts) throw bad('')
  return parts
}
