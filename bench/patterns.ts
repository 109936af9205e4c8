// npx tsx bench/patterns.ts [--events N]
// Matches per second of compiled EventBridge patterns against a naive interpreter that walks the
// pattern object for every event, over the same parsed events, in the same process. Both sides must
// count the same matches, or the row is not reported.
import { pathToFileURL } from 'node:url'
import { compilePattern } from '../lib/pattern/index.js'
import { makeEvent, rng } from './generate.js'

/** One row of the pattern benchmark: matches per second, compiled and naive, and their ratio. */
export interface PatternBenchRow {
  name: string
  compiledPerSec: number
  naivePerSec: number
  ratio: number
}

/** Typical rules over the generated events (see bench/generate.ts for their fields). */
const PATTERNS: readonly { name: string; pattern: Record<string, unknown> }[] = [
  { name: 'source + detail-type exact', pattern: { source: ['orders'], 'detail-type': ['OrderPlaced'] } },
  { name: 'prefix', pattern: { 'detail-type': [{ prefix: 'Order' }] } },
  { name: 'numeric range', pattern: { detail: { amount: [{ numeric: ['>=', 100, '<', 500] }] } } },
  { name: 'anything-but list', pattern: { source: [{ 'anything-but': ['users', 'payments'] }] } },
  {
    name: '$or',
    pattern: { $or: [{ source: ['payments'] }, { detail: { amount: [{ numeric: ['>', 900] }] } }] },
  },
  {
    name: 'nested detail fields',
    pattern: { source: ['orders'], detail: { aggregateId: ['order-42', 'order-7', 'order-99'], tags: ['b'] } },
  },
  { name: 'wildcard', pattern: { detail: { name: [{ wildcard: 'name 4* 1*' }] } } },
]

// ---------------------------------------------------------------------------------------------
// The baseline: a straightforward interpreter that reads the pattern object on every event, the
// way a first implementation would. Same operators as the rules above need, no array consistency.

type Json = Record<string, unknown>

function naiveMatches(pattern: Json, event: unknown): boolean {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return false
  return naiveObject(pattern, event as Json)
}

function naiveObject(pattern: Json, event: Json): boolean {
  for (const key of Object.keys(pattern)) {
    const rule = pattern[key]
    if (key === '$or') {
      if (!(rule as Json[]).some((alternative) => naiveObject(alternative, event))) return false
      continue
    }
    const value = Object.prototype.hasOwnProperty.call(event, key) ? event[key] : undefined
    if (Array.isArray(rule)) {
      if (!naiveField(rule, value)) return false
    } else if (typeof value !== 'object' || value === null || !naiveObject(rule as Json, value as Json)) {
      return false
    }
  }
  return true
}

function naiveField(rules: readonly unknown[], value: unknown): boolean {
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value]
  for (const rule of rules) {
    if (typeof rule === 'object' && rule !== null) {
      const [operator, operand] = Object.entries(rule)[0]!
      if (operator === 'exists') {
        if ((values.length > 0) === operand) return true
        continue
      }
      for (const v of values) if (naiveOperator(operator, operand, v)) return true
    } else {
      for (const v of values) if (v === rule) return true
    }
  }
  return false
}

function naiveOperator(operator: string, operand: unknown, value: unknown): boolean {
  switch (operator) {
    case 'prefix':
      return typeof value === 'string' && value.startsWith(operand as string)
    case 'suffix':
      return typeof value === 'string' && value.endsWith(operand as string)
    case 'anything-but': {
      const excluded = Array.isArray(operand) ? operand : [operand]
      return !excluded.includes(value)
    }
    case 'numeric': {
      if (typeof value !== 'number') return false
      const terms = operand as (string | number)[]
      for (let i = 0; i < terms.length; i += 2) {
        const bound = terms[i + 1] as number
        const ok =
          terms[i] === '=' ? value === bound
          : terms[i] === '<' ? value < bound
          : terms[i] === '<=' ? value <= bound
          : terms[i] === '>' ? value > bound
          : value >= bound
        if (!ok) return false
      }
      return true
    }
    case 'wildcard': {
      if (typeof value !== 'string') return false
      const source = (operand as string).split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')
      return new RegExp(`^${source}$`, 's').test(value)
    }
    default:
      throw new Error(`the naive interpreter does not know ${operator}`)
  }
}

// ---------------------------------------------------------------------------------------------

function measure(events: readonly unknown[], test: (event: unknown) => boolean): { perSec: number; count: number } {
  let count = 0
  const started = performance.now()
  for (let i = 0; i < events.length; i++) if (test(events[i])) count++
  const seconds = (performance.now() - started) / 1000
  return { perSec: events.length / seconds, count }
}

/**
 * Measures matches per second of each typical pattern, compiled and naive, over `events` generated
 * parsed events (default 100,000); each side's best of `rounds` interleaved rounds.
 *
 * @example
 * for (const row of await benchPatterns({ events: 10_000 })) console.log(row.name, row.ratio)
 */
export async function benchPatterns({ events = 100_000, rounds = 5 }: { events?: number; rounds?: number } = {}): Promise<
  PatternBenchRow[]
> {
  const random = rng(7)
  const parsed: unknown[] = []
  for (let i = 0; i < events; i++) parsed.push(makeEvent(i, random))
  const rows: PatternBenchRow[] = []
  for (const { name, pattern } of PATTERNS) {
    const compiled = compilePattern(pattern)
    const naive = (event: unknown): boolean => naiveMatches(pattern, event)
    let compiledBest = 0
    let naiveBest = 0
    for (let round = 0; round < rounds; round++) {
      const c = measure(parsed, compiled)
      const n = measure(parsed, naive)
      if (c.count !== n.count) throw new Error(`${name}: compiled matched ${c.count}, naive ${n.count}`)
      compiledBest = Math.max(compiledBest, c.perSec)
      naiveBest = Math.max(naiveBest, n.perSec)
    }
    rows.push({ name, compiledPerSec: compiledBest, naivePerSec: naiveBest, ratio: compiledBest / naiveBest })
  }
  return rows
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const flag = process.argv.indexOf('--events')
  const events = flag > 0 ? Number(process.argv[flag + 1]) : 100_000
  const rows = await benchPatterns({ events })
  const format = (n: number): string => Math.round(n).toLocaleString('en-US')
  console.log(`pattern matching over ${format(events)} parsed events (best of 5 rounds, matches per second)\n`)
  console.log(`${'pattern'.padEnd(28)} ${'compiled/s'.padStart(14)} ${'naive/s'.padStart(14)} ${'ratio'.padStart(7)}`)
  for (const row of rows) {
    console.log(
      `${row.name.padEnd(28)} ${format(row.compiledPerSec).padStart(14)} ${format(row.naivePerSec).padStart(14)} ${`${row.ratio.toFixed(1)}x`.padStart(7)}`,
    )
  }
}
