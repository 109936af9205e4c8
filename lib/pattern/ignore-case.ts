/**
 * Case-insensitive comparison the way event-ruler's `EqualsIgnoreCaseParser` defines it: each
 * character of the pattern matches its own lower-case or upper-case form (Unicode default
 * mappings), nothing else. So `"k"` does not match the Kelvin sign and `"ß"` matches `"ß"` or
 * `"SS"`. Private to lib/pattern.
 */

/** Whether the pattern must equal the value, start it, or end it. */
export type IgnoreCaseMode = 'equals' | 'prefix' | 'suffix'

/**
 * A tester for `value` against `pattern` ignoring case, allocation-free for the usual patterns.
 *
 * @example
 * ignoreCaseTester('EventB', 'prefix')('eventbridge') // true
 */
export function ignoreCaseTester(pattern: string, mode: IgnoreCaseMode): (value: string) => boolean {
  const length = pattern.length
  const lower = new Uint16Array(length)
  const upper = new Uint16Array(length)
  const alternatives: string[][] = []
  let simple = true
  for (let i = 0; i < length; i++) {
    const unit = pattern[i]!
    const code = pattern.charCodeAt(i)
    const surrogate = code >= 0xd800 && code <= 0xdfff
    const lo = surrogate ? unit : unit.toLowerCase()
    const up = surrogate ? unit : unit.toUpperCase()
    alternatives.push(lo === up ? [lo] : [lo, up])
    if (lo.length !== 1 || up.length !== 1) simple = false
    lower[i] = lo.charCodeAt(0)
    upper[i] = up.charCodeAt(0)
  }
  if (!simple) return regexTester(alternatives, mode)
  if (mode === 'equals') {
    return (value) => value.length === length && sameFrom(value, 0, lower, upper)
  }
  if (mode === 'prefix') {
    return (value) => value.length >= length && sameFrom(value, 0, lower, upper)
  }
  return (value) => value.length >= length && sameFrom(value, value.length - length, lower, upper)
}

function sameFrom(value: string, offset: number, lower: Uint16Array, upper: Uint16Array): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = value.charCodeAt(offset + i)
    if (c !== lower[i] && c !== upper[i]) return false
  }
  return true
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

/** For characters whose case forms differ in length (`ß`/`SS`, `İ`/`i̇`): a regular expression. */
function regexTester(alternatives: string[][], mode: IgnoreCaseMode): (value: string) => boolean {
  const body = alternatives.map((forms) => `(?:${forms.map(escapeRegExp).join('|')})`).join('')
  const source = mode === 'equals' ? `^${body}$` : mode === 'prefix' ? `^${body}` : `${body}$`
  const regex = new RegExp(source)
  return (value) => regex.test(value)
}
