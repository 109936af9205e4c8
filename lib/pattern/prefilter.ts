import { parsePattern, type Branch, type Matcher } from './parse.js'
import { prefilterFromSpec, type Clause, type LinePrefilter } from './prefilter-spec.js'

export type { LinePrefilter, PrefilterSpec } from './prefilter-spec.js'

const MAX_UNION_NEEDLES = 64

/**
 * Compiles a raw-text test for line-based (NDJSON) sources: it returns false only for a line that
 * provably cannot hold an event the pattern matches, so the line need not be parsed. Returns
 * undefined when the pattern requires no fixed text (only operators such as numeric, exists,
 * anything-but or equals-ignore-case), so no safe test exists.
 *
 * The reasoning: in a JSON line with no backslash every string is written character for character,
 * so a field that must equal `"orders"` (or start with `us-`, or match `*.png`) puts `"orders"`
 * (`"us-`, `.png"`) in the line. Any backslash can hide text behind an escape (`\u006frders`,
 * `\/`), so such a line always passes; so does every line under `$or` unless all alternatives
 * require text. The test does not check that the line is JSON: a line it rejects is skipped, not
 * reported as malformed.
 *
 * @throws {InvalidPatternError} when AWS would reject the pattern.
 * @example
 * const mayMatch = compilePrefilter({ source: ['orders'] })!
 * mayMatch('{"source":"payments","id":1}') // false: cannot match, skip JSON.parse
 * mayMatch('{"source":"orders","id":2}') // true: parse and match
 * mayMatch('{"source":"\\u006frders"}') // true: escapes present, parse to be sure
 */
export function compilePrefilter(pattern: unknown): LinePrefilter | undefined {
  const { branches } = parsePattern(pattern)
  const clauses = combine(branches.map(clausesOf))
  if (clauses.length === 0) return undefined
  // Most selective first: fewest alternatives, then longest needles.
  clauses.sort((a, b) => a.length - b.length || shortest(b) - shortest(a))
  // The longest needle that a clause requires alone: the rarest text to search a chunk for.
  let anchor: string | undefined
  for (const clause of clauses) if (clause.length === 1 && clause[0]!.length > (anchor?.length ?? 0)) anchor = clause[0]
  return prefilterFromSpec({ anyOf: [clauses], ...(anchor !== undefined ? { anchor } : {}) })
}

function shortest(clause: Clause): number {
  let min = Infinity
  for (const needle of clause) min = Math.min(min, needle.length)
  return min === Infinity ? 0 : min
}

/**
 * A character JSON can only write escaped: `"`, `\`, control characters, and lone surrogates
 * (JSON.stringify escapes those, and a decoded UTF-8 line cannot hold them).
 */
function needsEscape(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 34 || c === 92 || c < 0x20) return true
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1)
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true
      i++
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return true
    }
  }
  return false
}

/** Marks a value only a line with a backslash can hold; it adds no needle to its clause. */
const ESCAPED = Symbol('escaped')

/** The text a matching value writes into a backslash-free line, or null when there is none. */
function needleOf(matcher: Matcher): string | typeof ESCAPED | null {
  switch (matcher.kind) {
    case 'exact': {
      const { value } = matcher
      if (typeof value === 'string') return needsEscape(value) ? ESCAPED : `"${value}"`
      if (typeof value === 'boolean' || value === null) return String(value)
      return null // a number can be written many ways: 300, 300.0, 3e2
    }
    case 'prefix':
      if (matcher.ignoreCase) return null
      return needsEscape(matcher.value) ? ESCAPED : `"${matcher.value}`
    case 'suffix':
      if (matcher.ignoreCase) return null
      return needsEscape(matcher.value) ? ESCAPED : `${matcher.value}"`
    case 'wildcard': {
      const { segments } = matcher
      if (segments.some(needsEscape)) return ESCAPED
      const last = segments.length - 1
      let best = ''
      segments.forEach((segment, index) => {
        const needle = (index === 0 ? '"' : '') + segment + (index === last ? '"' : '')
        if (needle.length > best.length) best = needle
      })
      return best.length > 1 ? best : null
    }
    default:
      // an IP can be written several ways, the rest are not fixed text
      return null
  }
}

/** The clauses one branch requires: one per field whose every alternative is fixed text. */
function clausesOf(branch: Branch): Clause[] {
  const clauses: Clause[] = []
  for (const field of branch) {
    const needles = new Set<string>()
    let usable = true
    for (const matcher of field.matchers) {
      const needle = needleOf(matcher)
      if (needle === null) {
        usable = false
        break
      }
      if (needle !== ESCAPED) needles.add(needle)
    }
    if (usable) clauses.push([...needles])
  }
  return clauses
}

function isSubset(small: Clause, large: Clause): boolean {
  for (const needle of small) if (!large.includes(needle)) return false
  return true
}

/**
 * Clauses that hold for the whole pattern. A clause of the first branch holds if every other
 * branch requires a subset of it. Besides, one more clause of each branch can be joined into a
 * single clause (any of their needles), since every matching event satisfies some branch.
 */
function combine(perBranch: readonly Clause[][]): Clause[] {
  const [first, ...rest] = perBranch
  if (first === undefined) return []
  if (rest.length === 0) return [...first]
  const common = first.filter((clause) => rest.every((clauses) => clauses.some((other) => isSubset(other, clause))))
  const isCommon = (clause: Clause): boolean => common.some((c) => isSubset(c, clause) && isSubset(clause, c))
  const union = new Set<string>()
  for (const clauses of perBranch) {
    const candidates = clauses.filter((clause) => !isCommon(clause))
    if (candidates.length === 0) return [...common]
    const best = candidates.sort((a, b) => a.length - b.length || shortest(b) - shortest(a))[0]!
    for (const needle of best) union.add(needle)
  }
  return union.size <= MAX_UNION_NEEDLES ? [...common, [...union]] : [...common]
}
