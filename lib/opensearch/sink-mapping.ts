// The OpenSearch sink's mapping (events to documents: _id, version, deletes) and its index-name
// rules, checked before any I/O. Split from sink.ts.
import { HydratorError } from '../errors.js'
import { compileMapping, type Mapping } from '../mapping.js'
import { assertString } from '../util/options.js'
import type { SinkMapping } from './bulk.js'

/** The sink options the mapping is made from (see ToOpenSearchOptions). */
export interface SinkMappingOptions {
  readonly mapping?: Mapping
  readonly idPath?: string
  readonly versionPath?: string
  readonly deleteWhen?: Mapping['deleteWhen']
}

/** The mapping of `mapping`, or of `idPath`, `versionPath` and `deleteWhen`; throws ERR_INVALID_OPTION for a mix or a missing `_id`. */
export function compileSinkMapping(options: SinkMappingOptions): SinkMapping {
  const { mapping, idPath, versionPath, deleteWhen } = options
  if (mapping !== undefined) {
    if (idPath !== undefined || versionPath !== undefined || deleteWhen !== undefined) {
      throw new HydratorError('ERR_INVALID_OPTION', 'give either `mapping` or `idPath` (with `versionPath`, `deleteWhen`), not both')
    }
    const compiled = compileMapping(mapping)
    if (mapping.key.length !== 1) {
      throw new HydratorError(
        'ERR_INVALID_OPTION',
        `an OpenSearch document has one \`_id\`: expected one key column, got \`${mapping.key.join(', ')}\` (map a column holding a combined id instead)`,
      )
    }
    const idColumn = mapping.key[0]!
    const others = compiled.columnNames.filter((c) => c !== idColumn && c !== mapping.versionColumn)
    return { compiled, idColumn, rowIsDocument: others.length > 0 }
  }
  if (idPath !== undefined) assertString('idPath', idPath)
  if (versionPath !== undefined) assertString('versionPath', versionPath)
  const path = idPath ?? 'id'
  const compiled = compileMapping({
    columns: { _id: path, ...(versionPath !== undefined ? { _version: versionPath } : {}) },
    key: ['_id'],
    ...(versionPath !== undefined ? { versionColumn: '_version' } : {}),
    ...(deleteWhen !== undefined ? { deleteWhen } : {}),
  })
  if (idPath !== undefined) return { compiled, idColumn: '_id', rowIsDocument: false }
  // The default `_id`: an event without an `id` is told what to do about it.
  const toRow = (event: unknown) => {
    const id = event && typeof event === 'object' && Object.prototype.hasOwnProperty.call(event, 'id') ? (event as { id: unknown }).id : undefined
    if (id === undefined || id === null || id === '') {
      throw new HydratorError(
        'ERR_MAPPING',
        `the event has no \`id\`, which is the document _id unless told otherwise: give events an \`id\`, or name the _id's JSON path (idPath, ?id=detail.orderId) or map one (--column, --key)`,
      )
    }
    return compiled.toRow(event)
  }
  return { compiled: { ...compiled, toRow }, idColumn: '_id', rowIsDocument: false }
}

/** OpenSearch's rules for index names, checked before any I/O. */
export function validateIndexName(value: unknown): string {
  const name = assertString('index', value)
  const bad =
    name !== name.toLowerCase()
      ? 'must be lowercase'
      : /[\\/*?"<>| ,#:]/.test(name)
        ? 'must not contain \\ / * ? " < > | space , # or :'
        : /^[-_+]/.test(name)
          ? 'must not start with -, _ or +'
          : name === '.' || name === '..'
            ? "must not be '.' or '..'"
            : Buffer.byteLength(name) > 255
              ? 'must be at most 255 bytes'
              : undefined
  if (bad) throw new HydratorError('ERR_INVALID_OPTION', `invalid OpenSearch index name \`${name}\`: it ${bad}`)
  return name
}
