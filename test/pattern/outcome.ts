import { InvalidPatternError } from '../../lib/errors.js'
import { compilePattern } from '../../lib/pattern/index.js'

/** What EventBridge would answer for a pattern and an event: match, no-match, or invalid (the pattern is refused). */
export function outcome(pattern: unknown, event: unknown): 'match' | 'no-match' | 'invalid' {
  let matcher: (event: unknown) => boolean
  try {
    matcher = compilePattern(pattern)
  } catch (error) {
    if (error instanceof InvalidPatternError) return 'invalid'
    throw error
  }
  return matcher(event) ? 'match' : 'no-match'
}
