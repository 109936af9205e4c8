// event-hydrator/json: JSON and NDJSON files (also re-exported by the main entry: they need no client).
export { readJsonLines, type ReadJsonLinesOptions, type LineStart } from './read-lines.js'
export { readJsonArray, type ReadJsonArrayOptions } from './read-array.js'
export { readJsonFiles, type ReadJsonFilesOptions } from './read-files.js'
export { toJsonLines, type ToJsonLinesOptions } from './write-lines.js'
export { jsonPlugin, resumeOptions } from './plugin.js'
