// A raw-line prefilter as plain data, and the test built from it. Kept free of the pattern engine so
// that a worker thread reading lines can rebuild the very test the main thread compiled.

/** Needles of which a line must hold one (JSON text, such as `"orders"`). */
export type Clause = readonly string[]

/**
 * A prefilter as data: a line may hold a matching event only if, for some entry of `anyOf`, every
 * clause of it has one of its needles in the line; a line with a backslash always may (an escape can
 * hide any text). `anchor` is a needle every passing backslash-free line holds.
 */
export interface PrefilterSpec {
  readonly anyOf: readonly (readonly Clause[])[]
  readonly anchor?: string
}

/**
 * A raw-line test. `noBackslash` says the caller knows the line holds no backslash (say, its whole
 * chunk holds none), which spares the scan for one.
 */
export type LinePrefilter = ((line: string, noBackslash?: boolean) => boolean) & {
  /**
   * UTF-8 bytes that every line the test lets through holds when it has no backslash: a source may
   * rule out such a line without them before it decodes it (a search over the whole chunk).
   */
  readonly anchor?: Uint8Array
  /** The test as data, for a source that reads lines in a worker thread and rebuilds it there. */
  readonly spec?: PrefilterSpec
}

/** All clauses hold: each has one of its needles in the line. */
function allClauses(clauses: readonly Clause[], line: string): boolean {
  for (let c = 0; c < clauses.length; c++) {
    const needles = clauses[c]!
    let found = false
    for (let n = 0; n < needles.length; n++) {
      if (line.includes(needles[n]!)) {
        found = true
        break
      }
    }
    if (!found) return false
  }
  return true
}

/** The test a {@link PrefilterSpec} describes, with its spec (and anchor) attached. */
export function prefilterFromSpec(spec: PrefilterSpec): LinePrefilter {
  const { anyOf } = spec
  let fn: (line: string, noBackslash?: boolean) => boolean
  if (anyOf.length === 1 && anyOf[0]!.length === 1 && anyOf[0]![0]!.length === 1) {
    const needle = anyOf[0]![0]![0]!
    fn = function prefilterLine(line, noBackslash) {
      return line.includes(needle) || (!noBackslash && line.includes('\\'))
    }
  } else if (anyOf.length === 1) {
    const clauses = anyOf[0]!
    fn = function prefilterLine(line, noBackslash) {
      return allClauses(clauses, line) || (!noBackslash && line.includes('\\'))
    }
  } else {
    fn = function prefilterLine(line, noBackslash) {
      for (const clauses of anyOf) if (allClauses(clauses, line)) return true
      return !noBackslash && line.includes('\\')
    }
  }
  return Object.assign(fn, { spec, ...(spec.anchor !== undefined ? { anchor: Buffer.from(spec.anchor) } : {}) })
}
