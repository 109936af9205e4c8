/**
 * The names that look like a mistyped `given`, best first, at most `max`: compared case-insensitively,
 * those within a Damerau-Levenshtein distance of 2 (of 1 for names up to 3 characters), then those
 * one of which begins with the other (`order` and `order_items`, at least 3 characters in common).
 *
 * @example
 * nearNames('user', ['users', 'orders', 'user_roles', 'usr']) // ['users', 'usr', 'user_roles']
 */
export function nearNames(given: string, names: readonly string[], max = 3): string[] {
  const g = given.toLowerCase()
  const limit = g.length <= 3 ? 1 : 2
  const scored: { name: string; score: number }[] = []
  for (const name of names) {
    const n = name.toLowerCase()
    const d = editDistance(g, n, limit)
    if (d <= limit) scored.push({ name, score: d })
    else if (Math.min(g.length, n.length) >= 3 && (n.startsWith(g) || g.startsWith(n))) scored.push({ name, score: limit + Math.abs(n.length - g.length) })
  }
  scored.sort((a, b) => a.score - b.score || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return scored.slice(0, max).map((s) => s.name)
}

/**
 * The Damerau-Levenshtein distance (insertions, deletions, substitutions and swaps of two neighbours,
 * each once) between `a` and `b`, or `limit + 1` as soon as it must be larger than `limit`.
 *
 * @example
 * editDistance('uesrs', 'users') // 1
 */
export function editDistance(a: string, b: string, limit = Infinity): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1
  let before = new Array<number>(b.length + 1).fill(0)
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1)
    row[0] = i
    let best = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1)
      row[j] = d
      if (d < best) best = d
    }
    if (best > limit) return limit + 1
    before = previous
    previous = row
  }
  return Math.min(previous[b.length]!, limit + 1)
}

/**
 * Names as a phrase: `a`, `a or b`, `a, b or c`.
 *
 * @example
 * orList(['`users`', '`usr`']) // '`users` or `usr`'
 */
export function orList(names: readonly string[]): string {
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`
}
