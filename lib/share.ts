import { createHash } from 'node:crypto'
import { HydratorError } from './errors.js'

/**
 * One share of a run split N ways: the shares of one plan together read every event of the source
 * exactly once, and every event of one key (a DynamoDB partition key, an OpenSearch slice field's
 * value, a file) in the same share. `hydrate plan --shares N` prints them as a JSON array; each is
 * run with `--share '<element>'` (or `hydrate({ share })`) and its own checkpoint.
 */
export interface Share {
  /** The plan it belongs to: a digest of the source and the count, checked when it runs. */
  readonly plan: string
  /** 0-based. */
  readonly index: number
  readonly count: number
  /** The source the plan was made for (passwords redacted). */
  readonly source: string
  /** What this share reads, as the source's plugin planned it (scan segment, slice, files). */
  readonly part: Readonly<Record<string, unknown>>
  /** A digest of the plan, the index and the part: an edited share is refused. */
  readonly check: string
}

/** The plan id of a source split `count` ways. */
export function planId(source: string, count: number): string {
  return createHash('sha256').update(`${source}\n${count}`).digest('hex').slice(0, 16)
}

function checkOf(plan: string, index: number, part: unknown): string {
  return createHash('sha256').update(`${plan}\n${index}\n${JSON.stringify(part)}`).digest('hex').slice(0, 16)
}

/** A share's name in checkpoint keys and messages: `share-3-of-16`. */
export function shareName(share: Pick<Share, 'index' | 'count'>): string {
  return `share-${share.index + 1}-of-${share.count}`
}

/** Builds a plan's shares from the parts a source plugin planned. */
export function sharesOf(source: string, parts: readonly Readonly<Record<string, unknown>>[]): Share[] {
  const count = parts.length
  const plan = planId(source, count)
  return parts.map((part, index) => ({ plan, index, count, source, part, check: checkOf(plan, index, part) }))
}

/**
 * Reads a share given as an object or as JSON text, and checks that it belongs to a plan of this
 * source (ERR_SHARE_MISMATCH otherwise: a share of another plan would read the wrong events).
 */
export function parseShare(given: unknown, source: string): Share {
  let share = given
  if (typeof given === 'string') {
    try {
      share = JSON.parse(given)
    } catch {
      throw new HydratorError('ERR_INVALID_OPTION', `--share: expected one element of the JSON array \`hydrate plan --shares N\` printed, got \`${given.slice(0, 200)}\``)
    }
  }
  const s = share as Partial<Share> | null
  if (
    !s ||
    typeof s !== 'object' ||
    typeof s.plan !== 'string' ||
    typeof s.source !== 'string' ||
    !Number.isInteger(s.index) ||
    !Number.isInteger(s.count) ||
    s.count! < 1 ||
    s.index! < 0 ||
    s.index! >= s.count! ||
    !s.part ||
    typeof s.part !== 'object'
  ) {
    throw new HydratorError('ERR_INVALID_OPTION', '--share: expected { plan, index, count, source, part, check }, one element of the array `hydrate plan --shares N` printed')
  }
  if (s.source !== source) {
    throw new HydratorError('ERR_SHARE_MISMATCH', `--share belongs to a plan of another source: \`${s.source}\`, and this run reads \`${source}\`. Plan again with \`hydrate plan --source ${source} --shares N\`.`)
  }
  if (s.plan !== planId(source, s.count!)) {
    throw new HydratorError('ERR_SHARE_MISMATCH', `--share ${s.index! + 1} of ${s.count} is not from a plan of \`${source}\` (its plan id \`${s.plan}\` does not match): plan again with \`hydrate plan --shares N\``)
  }
  if (s.check !== checkOf(s.plan, s.index!, s.part)) {
    throw new HydratorError('ERR_SHARE_MISMATCH', `--share ${s.index! + 1} of ${s.count} was edited (its check does not match its plan, index and part): use the shares as \`hydrate plan\` printed them`)
  }
  return s as Share
}
