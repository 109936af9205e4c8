export type { EventPattern, PatternValue } from './types.js'
export { validatePattern } from './validate.js'
export { compilePattern, matches } from './compile.js'
export { compilePrefilter } from './prefilter.js'
