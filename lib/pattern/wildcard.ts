/**
 * Wildcard patterns (`*` matches any run of characters, `\*` a literal star, `\\` a backslash):
 * syntax as event-ruler's `WildcardParser` checks it, a fast matcher, and the complexity limit AWS
 * applies to the wildcards of one field. Private to lib/pattern.
 */

/** The literal runs between unescaped stars, unescaped; `a*b` gives `['a', 'b']`, no star gives one run. */
export type WildcardSegments = readonly string[]

/**
 * Splits a wildcard pattern into its literal segments, or returns the reason AWS gives for
 * rejecting it. Positions in messages are UTF-8 byte offsets in the quoted value, as in AWS's
 * messages (`Consecutive wildcard characters at pos 26`).
 *
 * @example
 * parseWildcard('a*b\\*c') // ['a', 'b*c']
 * parseWildcard('a**') // 'Consecutive wildcard characters at pos 2'
 */
export function parseWildcard(text: string): WildcardSegments | string {
  const segments: string[] = []
  let current = ''
  let position = 1 // event-ruler parses the value with its leading quote
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 42) {
      if (text.charCodeAt(i + 1) === 42) return `Consecutive wildcard characters at pos ${position}`
      segments.push(current)
      current = ''
      position += 1
    } else if (c === 92) {
      const next = text.charCodeAt(i + 1)
      if (next !== 42 && next !== 92) return `Invalid escape character at pos ${position}`
      current += next === 42 ? '*' : '\\'
      i++
      position += 2
    } else {
      current += text[i]
      position += utf8Length(text, i)
      if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
        current += text[i + 1]
        i++
      }
    }
  }
  segments.push(current)
  return segments
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff
}

/** UTF-8 length of the character starting at `i` (a surrogate pair counts once, as 4 bytes). */
function utf8Length(text: string, i: number): number {
  const c = text.charCodeAt(i)
  if (c < 0x80) return 1
  if (c < 0x800) return 2
  if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) return 4
  if (c >= 0xd800 && c <= 0xdfff) return 1 // Java encodes a lone surrogate as '?'
  return 3
}

/**
 * A tester for one wildcard pattern over strings. Greedy leftmost placement of the middle segments
 * is exact for star-only patterns and runs in linear time, so no regular expression backtracks.
 *
 * @example
 * wildcardTester(['/Users/', '/doc.txt'])('/Users/me/doc.txt') // true
 */
export function wildcardTester(segments: WildcardSegments): (value: string) => boolean {
  const count = segments.length
  const first = segments[0]!
  if (count === 1) return (value) => value === first
  const last = segments[count - 1]!
  const middle = segments.slice(1, count - 1)
  let minimum = first.length + last.length
  for (const segment of middle) minimum += segment.length
  if (middle.length === 0) {
    if (first === '' && last === '') return () => true
    return (value) => value.length >= minimum && value.startsWith(first) && value.endsWith(last)
  }
  return function matchWildcard(value: string): boolean {
    if (value.length < minimum || !value.startsWith(first) || !value.endsWith(last)) return false
    let position = first.length
    const end = value.length - last.length
    for (let i = 0; i < middle.length; i++) {
      const segment = middle[i]!
      const at = value.indexOf(segment, position)
      if (at < 0 || at + segment.length > end) return false
      position = at + segment.length
    }
    return true
  }
}

/** The complexity above which AWS rejects a rule (`Rule is too complex ...`). */
export const MAX_WILDCARD_COMPLEXITY = 10

/**
 * The wildcard values of one event-ruler pattern: one value for `{"wildcard": "..."}`, every value
 * for `{"anything-but": {"wildcard": [...]}}`, which event-ruler keeps as one pattern (a values set).
 */
export type WildcardGroup = readonly WildcardSegments[]

/**
 * True when the wildcard patterns of one field (plain wildcards and anything-but wildcards alike,
 * as event-ruler's `MachineComplexityEvaluator` counts both) are over {@link MAX_WILDCARD_COMPLEXITY}.
 * The one check every wildcard goes through.
 *
 * @example
 * wildcardTooComplex([[parseWildcard('*:*:*:*:*:event-bus/*') as WildcardSegments]]) // true
 */
export function wildcardTooComplex(groups: readonly WildcardGroup[]): boolean {
  return wildcardComplexity(groups) > MAX_WILDCARD_COMPLEXITY
}

const STAR = -1
const OTHER_BYTE = -2
const MAX_EXPLORED_STATE_SETS = 20_000

interface NfaState {
  readonly id: number
  /** How many wildcard prefixes this state stands for (a star state counts twice, as its loop does). */
  weight: number
  /**
   * For a shared state (determinate prefix, first star): its weight per pattern group. The values of
   * one anything-but wildcard list are one event-ruler pattern, so they count once where they share.
   */
  readonly groups: Map<number, number>
  loop: boolean
  readonly next: Map<number, NfaState[]>
  readonly epsilon: NfaState[]
  /** Shared determinate-prefix children (before the first star) and the shared first star. */
  readonly trie: Map<number, NfaState>
  star: NfaState | undefined
}

/**
 * The worst-case number of wildcard prefixes one value can keep alive at once, for the wildcard
 * patterns of one field: event-ruler's `MachineComplexityEvaluator` idea on a byte-level NFA where
 * patterns share their determinate prefix and first star, each star counts twice (state and loop),
 * and every other live state once; a state counts each pattern group once (event-ruler counts
 * distinct patterns). AWS rejects a field above {@link MAX_WILDCARD_COMPLEXITY}: five stars
 * separated by one repeated character, or four `*.ext` patterns on one field, go over it.
 *
 * @example
 * wildcardComplexity([[['', ':', ':', ':', ':', ':event-bus/', '']]]) // 11, too complex
 * wildcardComplexity([[['arn:aws:events:us-east-1:', ':event-bus/', '']]]) // 5
 */
export function wildcardComplexity(groups: readonly WildcardGroup[]): number {
  if (!groups.some((group) => group.length > 0)) return 0
  let nextId = 0
  const newState = (loop: boolean): NfaState => ({
    id: nextId++,
    weight: 0,
    groups: new Map(),
    loop,
    next: new Map(),
    epsilon: [],
    trie: new Map(),
    star: undefined,
  })
  const addEdge = (from: NfaState, byte: number, to: NfaState): void => {
    const list = from.next.get(byte)
    if (list === undefined) from.next.set(byte, [to])
    else if (!list.includes(to)) list.push(to)
  }
  const root = newState(false)
  const alphabet = new Set<number>()
  const encoder = new TextEncoder()

  const patterns = groups.flatMap((group, g) => group.map((segments) => ({ segments, g })))
  for (const { segments, g } of patterns) {
    const tokens: number[] = [34]
    segments.forEach((segment, index) => {
      if (index > 0) tokens.push(STAR)
      for (const byte of encoder.encode(segment)) tokens.push(byte)
    })
    tokens.push(34)
    let current = root
    let determinate = true
    for (let k = 0; k < tokens.length; k++) {
      const token = tokens[k]!
      const starNext = tokens[k + 1] === STAR
      const isLast = k === tokens.length - 1
      if (token === STAR) {
        if (determinate) {
          let star = current.star
          if (star === undefined) {
            star = newState(true)
            current.star = star
            current.epsilon.push(star)
          }
          star.groups.set(g, 2)
          current = star
          determinate = false
        }
        continue
      }
      alphabet.add(token)
      if (determinate && !starNext) {
        let child = current.trie.get(token)
        if (child === undefined) {
          child = newState(false)
          current.trie.set(token, child)
          addEdge(current, token, child)
        }
        if (!isLast) child.groups.set(g, 1)
        current = child
      } else if (determinate) {
        // the star after this byte is shared: reach it through a shared trie node
        let child = current.trie.get(token)
        if (child === undefined) {
          child = newState(false)
          current.trie.set(token, child)
          addEdge(current, token, child)
        }
        current = child
      } else {
        const target = newState(starNext)
        if (starNext) target.weight = 2
        else if (!isLast) target.weight = 1
        addEdge(current, token, target)
        current = target
        if (starNext) k++ // the star token is this state
      }
    }
  }

  const closure = (states: Set<NfaState>): Set<NfaState> => {
    const stack = [...states]
    while (stack.length > 0) {
      const state = stack.pop()!
      for (const target of state.epsilon) {
        if (!states.has(target)) {
          states.add(target)
          stack.push(target)
        }
      }
    }
    return states
  }
  const weigh = (states: Set<NfaState>): number => {
    let total = 0
    for (const state of states) {
      total += state.weight
      for (const w of state.groups.values()) total += w
    }
    return total
  }
  const keyOf = (states: Set<NfaState>): string =>
    [...states]
      .map((s) => s.id)
      .sort((a, b) => a - b)
      .join(',')

  const symbols = [...alphabet, OTHER_BYTE]
  const start = closure(new Set([root]))
  const seen = new Set<string>([keyOf(start)])
  const pending = [start]
  let maximum = weigh(start)
  while (pending.length > 0 && seen.size < MAX_EXPLORED_STATE_SETS) {
    const states = pending.pop()!
    for (const symbol of symbols) {
      const next = new Set<NfaState>()
      for (const state of states) {
        if (state.loop) next.add(state)
        const targets = symbol === OTHER_BYTE ? undefined : state.next.get(symbol)
        if (targets !== undefined) for (const target of targets) next.add(target)
      }
      if (next.size === 0) continue
      closure(next)
      const weight = weigh(next)
      if (weight > maximum) maximum = weight
      if (maximum > MAX_WILDCARD_COMPLEXITY) return maximum
      const key = keyOf(next)
      if (!seen.has(key)) {
        seen.add(key)
        pending.push(next)
      }
    }
  }
  return maximum
}
