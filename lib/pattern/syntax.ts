// The parsed form of a pattern and the small helpers every part of the reader shares.
import { InvalidPatternError } from '../errors.js'
import type { IpRange } from './ip.js'
import type { WildcardSegments } from './wildcard.js'

/** One way a field value can match. */
export type Matcher =
  | { readonly kind: 'exact'; readonly value: string | number | boolean | null }
  | { readonly kind: 'ip'; readonly text: string; readonly bytes: Uint8Array }
  | { readonly kind: 'prefix' | 'suffix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'equals-ignore-case'; readonly value: string }
  | { readonly kind: 'wildcard'; readonly value: string; readonly segments: WildcardSegments }
  | {
      readonly kind: 'numeric'
      readonly low: number
      readonly lowOpen: boolean
      readonly high: number
      readonly highOpen: boolean
    }
  | { readonly kind: 'cidr'; readonly range: IpRange }
  | { readonly kind: 'exists' }
  | { readonly kind: 'absent' }
  | { readonly kind: 'anything-but'; readonly values: ReadonlySet<string | number> }
  | {
      readonly kind: 'anything-but-prefix' | 'anything-but-suffix' | 'anything-but-ignore-case'
      readonly values: readonly string[]
    }
  | { readonly kind: 'anything-but-wildcard'; readonly values: readonly WildcardSegments[] }

/** One flattened field of a branch: `detail.amount` and the values it may take. */
export interface Field {
  /** The flattened name, keys joined with `.`. */
  readonly name: string
  /** Where the field is written in the pattern, for messages (`detail.$or[1].amount`). */
  readonly path: string
  readonly matchers: readonly Matcher[]
  /** A canonical text per matcher, used to tell equal matchers apart in the complexity check. */
  readonly identities: readonly string[]
}

/** A conjunction of fields, sorted by name (the order event-ruler visits them in). */
export type Branch = readonly Field[]

/** A parsed pattern: it matches an event when any branch does. */
export interface ParsedPattern {
  readonly branches: readonly Branch[]
}

export type Json = Record<string, unknown>

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

export function fail(path: string, reason: string): never {
  throw new InvalidPatternError(path, reason)
}

export function childPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`
}

/** Jackson's `getText()` of the token at an array position, as AWS quotes it in messages. */
export function tokenText(items: readonly unknown[], index: number): string {
  if (index >= items.length) return ']'
  const value = items[index]
  if (typeof value === 'string') return value
  if (Array.isArray(value)) return '['
  if (isObject(value)) return '{'
  return String(value)
}
