// How expensive a pattern's wildcards are to run: AWS refuses rules past a limit.
import { wildcardTooComplex, type WildcardGroup } from './wildcard.js'
import { fail, type Branch, type Matcher } from './syntax.js'

interface ComplexityState {
  readonly fields: Map<string, ComplexityMachine>
}

interface ComplexityMachine {
  readonly path: string
  readonly matchers: Matcher[]
  readonly next: Map<string, ComplexityState>
  readonly valued: Set<ComplexityState>
}

/**
 * The wildcard pattern a matcher adds to its field's byte machine, under the key event-ruler tells
 * equal patterns apart by: a wildcard is one pattern, an anything-but wildcard list another (its
 * values a set). Other matchers add none.
 */
function wildcardGroupOf(matcher: Matcher): { key: string; group: WildcardGroup } | undefined {
  if (matcher.kind === 'wildcard') return { key: `wildcard ${matcher.value}`, group: [matcher.segments] }
  if (matcher.kind === 'anything-but-wildcard') {
    const unique = new Map(matcher.values.map((segments) => [JSON.stringify(segments), segments]))
    return { key: `anything-but ${JSON.stringify([...unique.keys()].sort())}`, group: [...unique.values()] }
  }
  return undefined
}

/**
 * AWS refuses rules whose wildcards are too expensive to run, plain and anything-but wildcards
 * alike. The wildcards that share one event-ruler byte machine (same field, reached through the
 * same earlier values) are weighed together; see `wildcardComplexity`.
 */
export function checkComplexity(branches: readonly Branch[]): void {
  const anyWildcard = branches.some((branch) => branch.some((field) => field.matchers.some((matcher) => wildcardGroupOf(matcher))))
  if (!anyWildcard) return
  const root: ComplexityState = { fields: new Map() }
  for (const branch of branches) {
    let states = new Set([root])
    for (const field of branch) {
      const next = new Set<ComplexityState>()
      for (const state of states) {
        let machine = state.fields.get(field.name)
        if (machine === undefined) {
          machine = { path: field.path, matchers: [], next: new Map(), valued: new Set() }
          state.fields.set(field.name, machine)
        }
        let last: ComplexityState | undefined
        field.matchers.forEach((matcher, index) => {
          machine.matchers.push(matcher)
          const identity = field.identities[index]!
          let target = machine.next.get(identity)
          if (target === undefined) {
            target = last ?? { fields: new Map() }
            machine.next.set(identity, target)
          }
          last = target
          next.add(target)
          if (matcher.kind !== 'absent') machine.valued.add(target)
        })
      }
      states = next
    }
  }
  const seen = new Set<ComplexityState>()
  const pending = [root]
  while (pending.length > 0) {
    const state = pending.pop()!
    if (seen.has(state)) continue
    seen.add(state)
    for (const machine of state.fields.values()) {
      const groups = new Map<string, WildcardGroup>()
      for (const matcher of machine.matchers) {
        const wildcard = wildcardGroupOf(matcher)
        if (wildcard) groups.set(wildcard.key, wildcard.group)
      }
      if (wildcardTooComplex([...groups.values()])) {
        fail(
          machine.path,
          'Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character',
        )
      }
      for (const target of machine.valued) pending.push(target)
    }
  }
}
