/**
 * A protocol-level OpenSearch test server: node:http on 127.0.0.1, speaking the REST wire protocol
 * that the real `@opensearch-project/opensearch` 3.x client uses, strict like a real node. No real
 * OpenSearch can run here, so this stands in for one; the README says so plainly.
 *
 * What it implements, with OpenSearch's own error bodies (`{ error: { root_cause, type, reason, ... },
 * status }`): cluster info (`GET /`, `HEAD /`), index create / exists / get / delete, `_mapping`,
 * `_refresh` (searches see only refreshed documents, with a periodic refresh like
 * `index.refresh_interval`), `_bulk` (index / create / delete, internal and external versioning,
 * per-item results), single document get / index / delete, `_mget` (`docs` or `ids`, realtime,
 * `_source` filtering, per-document errors for a missing index), `_count`, `_search` (match_all, term,
 * terms, range, exists, ids, match, bool; sort, search_after, size, from, _source, slice,
 * track_total_hits) and point in time (create, search with `pit`, delete, list, expiry). Aliases:
 * `POST /_aliases` (add, remove, remove_index; all or nothing, 404 for a missing index or alias),
 * `GET /_alias/<name>`, `GET /<index>/_alias`, aliases given at index creation; a write through an
 * alias goes to its write index (400 when it points at several without one), a single-document read
 * needs an alias of one index, searches read every index of an alias. `GET /<index>/_settings`
 * (`flat_settings`); creating an index with a private setting (`index.uuid`, ...) is refused.
 *
 * A simple field mapping is kept: keyword, text (with a `.keyword` sub-field when dynamic), long,
 * integer, short, byte, double, float, date, boolean, object. Dynamic mapping: the first value's type
 * fixes a new field's type, later values that do not fit are `mapper_parsing_exception` per item.
 *
 * Fault hooks (`server.faults`) reject bulk items or whole requests with 429, and expire PITs.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { gunzipSync } from 'node:zlib'
import { listenLocal } from './listen.js'

// ---------------------------------------------------------------------------------------------
// Public surface
// ---------------------------------------------------------------------------------------------

export interface OpenSearchServerOptions {
  /** Create a missing index on the first bulk `index`/`create` into it (OpenSearch's `action.auto_create_index`). @default true */
  readonly autoCreateIndex?: boolean
  /** Allow sorting on `_id` (OpenSearch's `indices.id_field_data.enabled`, true by default in OpenSearch). @default true */
  readonly idFieldData?: boolean
  /** How long delete tombstones keep their version (`index.gc_deletes`). @default 60000 */
  readonly gcDeletesMs?: number
  /** Periodic refresh (`index.refresh_interval`); 0 turns it off. @default 1000 */
  readonly refreshIntervalMs?: number
  /** Require HTTP basic auth with one of these users (name -> password), like the security plugin. */
  readonly users?: Readonly<Record<string, string>>
  /** Require an AWS SigV4 `Authorization` header (Amazon OpenSearch Service). @default false */
  readonly requireSigV4?: boolean
  /** `search.max_keep_alive`. @default 86400000 (24h) */
  readonly maxKeepAliveMs?: number
  /** `search.max_open_pit_context`. @default 300 */
  readonly maxOpenPits?: number
  /** The version number reported by `GET /`. @default '2.19.1' */
  readonly versionNumber?: string
}

/** A bulk item as the fault hook sees it. */
export interface BulkItemInfo {
  readonly action: 'index' | 'create' | 'delete' | 'update'
  readonly index: string
  readonly id: string | undefined
  /** How many times an item with this index and id reached the server, this one included. */
  readonly attempt: number
}

export interface Faults {
  /** Return 429 (or 503) to reject this bulk item with OpenSearch's per-item error; undefined applies it. */
  bulkItem?: (item: BulkItemInfo) => 429 | 503 | undefined
  /** Return 429, 413 or a 5xx to fail the whole request before it is handled. */
  request?: (request: { readonly method: string; readonly path: string; readonly bodyBytes: number }) => number | undefined
  /**
   * Return a shard failure type to answer a search with 200 but a failed shard (`_shards.failed: 1`)
   * and only part of the hits, as a multi-shard cluster does.
   */
  searchShardFailure?: () => 'search_context_missing_exception' | 'node_disconnected_exception' | undefined
  /** Handle the request, then drop the connection instead of answering (an answer lost on the way). */
  dropResponse?: (request: { readonly method: string; readonly path: string }) => boolean
  /** Every PIT expires after this many searches have used it (a keep_alive that ran out mid-run). */
  pitSearchLimit?: number
}

export interface OpenSearchTestServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly faults: Faults
  /** What reached the server, for tests: items per bulk request, searches, PITs. */
  readonly stats: { bulkItemCounts: number[]; searches: number; pitsCreated: number; pitsDeleted: number; requests: number }
  /** Open (unexpired) PITs. */
  openPits(): number
  /** Expires every open PIT now. */
  expirePits(): void
  /** The live documents of an index (latest writes, refreshed or not), sorted by `_id`. */
  documents(index: string): { _id: string; _version: number; _source: Record<string, unknown> }[]
  /** The current mapping of an index, as `GET /<index>/_mapping` shows it. */
  mapping(index: string): unknown
  /** Makes every index's writes searchable now. */
  refresh(): void
  /** Drops all indices, PITs and fault hooks. */
  reset(): void
  /**
   * A node restart: stops listening and closes every connection (requests in flight get no
   * answer), stays down for `downMs`, then listens again on the same port. Indices, documents,
   * versions and tombstones are kept, as on disk.
   */
  restart(options?: { downMs?: number }): Promise<void>
  close(): Promise<void>
}

/**
 * Starts the server on 127.0.0.1 and a free port.
 *
 * @example
 * const server = await startOpenSearchServer()
 * const client = new Client({ node: server.url })
 */
export async function startOpenSearchServer(options: OpenSearchServerOptions = {}): Promise<OpenSearchTestServer> {
  const cluster = new Cluster(options)
  const server: Server = createServer((req, res) => {
    cluster.handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        sendJson(res, 500, errorBody(500, 'exception', `test server bug: ${String((error as Error)?.stack ?? error)}`))
      } else res.destroy()
    })
  })
  server.keepAliveTimeout = 60_000
  const listening = await listenLocal(server)
  const timer =
    (options.refreshIntervalMs ?? 1000) > 0 ? setInterval(() => cluster.refreshAll(), options.refreshIntervalMs ?? 1000) : undefined
  timer?.unref()
  return {
    url: listening.url,
    faults: cluster.faults,
    stats: cluster.stats,
    openPits: () => cluster.openPitCount(),
    expirePits: () => cluster.pits.clear(),
    documents: (index) => cluster.documents(index),
    mapping: (index) => cluster.indices.get(index)?.mappingJson(),
    refresh: () => cluster.refreshAll(),
    reset: () => cluster.reset(),
    restart: ({ downMs = 0 } = {}) => listening.restart(downMs),
    close: async () => {
      if (timer) clearInterval(timer)
      await listening.close()
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Errors and responses
// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>

/** An OpenSearch exception: `type` and `reason` plus the fields OpenSearch adds (index, index_uuid, ...). */
class OsError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly reason: string,
    readonly extra: Json = {},
    readonly causedBy?: Json,
  ) {
    super(reason)
  }

  toCause(): Json {
    return { type: this.type, reason: this.reason, ...this.extra, ...(this.causedBy ? { caused_by: this.causedBy } : {}) }
  }
}

/** A failure of every shard of a search: OpenSearch wraps the shard's cause in search_phase_execution_exception. */
class SearchPhaseError extends Error {
  constructor(
    readonly status: number,
    readonly shardCause: Json,
    readonly shard: { shard: number; index: string | null; node?: string },
    readonly phase = 'query',
  ) {
    super(String(shardCause.reason))
  }
}

function errorBody(status: number, type: string, reason: string, extra: Json = {}): Json {
  const cause = { type, reason, ...extra }
  return { error: { root_cause: [cause], ...cause }, status }
}

function osErrorBody(error: OsError): Json {
  const rootCause = { type: error.type, reason: error.reason, ...error.extra }
  return { error: { root_cause: [rootCause], ...error.toCause() }, status: error.status }
}

function searchPhaseBody(error: SearchPhaseError): Json {
  return {
    error: {
      root_cause: [error.shardCause],
      type: 'search_phase_execution_exception',
      reason: 'all shards failed',
      phase: error.phase,
      grouped: true,
      failed_shards: [{ ...error.shard, reason: error.shardCause }],
      caused_by: error.shardCause,
    },
    status: error.status,
  }
}

function validationError(messages: string[]): OsError {
  return new OsError(400, 'action_request_validation_exception', `Validation Failed: ${messages.map((m, i) => `${i + 1}: ${m};`).join('')}`)
}

/** Index settings OpenSearch sets itself: creating an index with one is refused. */
const PRIVATE_SETTINGS = [
  'index.uuid',
  'index.version.created',
  'index.version.upgraded',
  'index.creation_date',
  'index.provided_name',
  'index.resize',
  'index.routing.allocation.initial_recovery',
  'index.history.uuid',
  'index.verified_before_close',
]

/** Settings as given (`{ number_of_shards: 1 }`, `{ index: { ... } }` or `{ 'index.x': ... }`) as flat `index.`-prefixed keys. */
function flattenSettings(settings: unknown): Json {
  const out: Json = {}
  const walk = (value: unknown, prefix: string) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value as Json)) walk(v, prefix ? `${prefix}.${k}` : k)
    } else out[prefix.startsWith('index.') ? prefix : `index.${prefix}`] = Array.isArray(value) ? value : String(value)
  }
  walk(settings ?? {}, '')
  return out
}

/** Flat settings (`index.number_of_shards`) nested as OpenSearch shows them without `flat_settings`. */
function nestSettings(flat: Json): Json {
  const out: Json = {}
  for (const [key, value] of Object.entries(flat)) {
    const parts = key.split('.')
    let node = out
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Json
    node[parts.at(-1)!] = value
  }
  return out
}

function indexNotFound(index: string): OsError {
  return new OsError(404, 'index_not_found_exception', `no such index [${index}]`, {
    index,
    'resource.id': index,
    'resource.type': 'index_or_alias',
    index_uuid: '_na_',
  })
}

function sendJson(res: ServerResponse, status: number, body: unknown, raw?: string): void {
  const text = raw ?? JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

// ---------------------------------------------------------------------------------------------
// Mapping
// ---------------------------------------------------------------------------------------------

type FieldType = 'keyword' | 'text' | 'long' | 'integer' | 'short' | 'byte' | 'double' | 'float' | 'date' | 'boolean' | 'object'

interface FieldMapping {
  type: FieldType
  properties?: Map<string, FieldMapping>
  /** Multi-fields, e.g. `keyword` under a dynamic text field. */
  fields?: Map<string, FieldMapping>
  ignoreAbove?: number
}

const SCALAR_TYPES = new Set(['keyword', 'text', 'long', 'integer', 'short', 'byte', 'double', 'float', 'date', 'boolean'])
const NUMERIC_TYPES = new Set(['long', 'integer', 'short', 'byte', 'double', 'float'])
const INTEGER_RANGES: Record<string, [number, number]> = {
  long: [-9223372036854775808, 9223372036854775807],
  integer: [-2147483648, 2147483647],
  short: [-32768, 32767],
  byte: [-128, 127],
}
const TOTAL_FIELDS_LIMIT = 1000

function parseProperties(json: unknown, path: string): Map<string, FieldMapping> {
  const out = new Map<string, FieldMapping>()
  if (json === undefined || json === null) return out
  if (typeof json !== 'object' || Array.isArray(json)) {
    throw new OsError(400, 'mapper_parsing_exception', `Expected map for property [properties] on field [${path || '_doc'}] but got a class java.lang.String`)
  }
  for (const [name, def] of Object.entries(json as Json)) {
    out.set(name, parseField(name, def, path ? `${path}.${name}` : name))
  }
  return out
}

function parseField(name: string, def: unknown, fullPath: string): FieldMapping {
  if (!def || typeof def !== 'object' || Array.isArray(def)) {
    throw new OsError(400, 'mapper_parsing_exception', `Expected map for property [fields] on field [${name}] but got a class java.lang.String`)
  }
  const d = def as Json
  const type = (d.type as string | undefined) ?? (d.properties ? 'object' : undefined)
  if (type === undefined) throw new OsError(400, 'mapper_parsing_exception', `No type specified for field [${name}]`)
  if (type === 'nested' || type === 'object') {
    return { type: 'object', properties: parseProperties(d.properties, fullPath) }
  }
  if (!SCALAR_TYPES.has(type)) {
    throw new OsError(400, 'mapper_parsing_exception', `No handler for type [${type}] declared on field [${name}]`)
  }
  const field: FieldMapping = { type: type as FieldType }
  if (typeof d.ignore_above === 'number') field.ignoreAbove = d.ignore_above
  if (d.fields) field.fields = parseProperties(d.fields, fullPath)
  return field
}

function mappingToJson(properties: Map<string, FieldMapping>): Json {
  const out: Json = {}
  for (const [name, f] of [...properties].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (f.type === 'object') {
      out[name] = { properties: mappingToJson(f.properties ?? new Map()) }
      continue
    }
    const j: Json = { type: f.type }
    if (f.ignoreAbove !== undefined) j.ignore_above = f.ignoreAbove
    if (f.fields) j.fields = mappingToJson(f.fields)
    out[name] = j
  }
  return out
}

function countFields(properties: Map<string, FieldMapping>): number {
  let n = 0
  for (const f of properties.values()) {
    n++
    if (f.properties) n += countFields(f.properties)
    if (f.fields) n += countFields(f.fields)
  }
  return n
}

// strict_date_optional_time (the parts people use) and epoch_millis.
const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$/

function parseDate(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : undefined
  if (typeof value !== 'string') return undefined
  if (/^-?\d+$/.test(value)) return Number(value)
  const m = DATE_RE.exec(value)
  if (!m) return undefined
  const [, y, mo = '01', d = '01', h = '00', mi = '00', s = '00', frac = '', zone = 'Z'] = m
  const ms = frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0
  const tz = zone === 'Z' ? 'Z' : zone.length === 3 ? `${zone}:00` : zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`
  const t = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}.${String(ms).padStart(3, '0')}${tz}`)
  if (Number.isNaN(t)) return undefined
  // Reject dates that Date.parse silently rolls over (2024-02-31).
  if (Number(mo) > 12 || Number(d) > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined
  return t
}

function looksLikeDate(value: string): boolean {
  return DATE_RE.test(value) && value.length >= 10 && value.includes('-') && parseDate(value) !== undefined
}

function preview(value: unknown): string {
  if (value !== null && typeof value === 'object') {
    // Java's Map.toString, the way OpenSearch previews a value it could not parse.
    const render = (v: unknown): string =>
      v !== null && typeof v === 'object'
        ? Array.isArray(v)
          ? `[${v.map(render).join(', ')}]`
          : `{${Object.entries(v as Json).map(([k, x]) => `${k}=${render(x)}`).join(', ')}}`
        : String(v)
    return render(value)
  }
  return String(value)
}

/** Checks (and coerces, like OpenSearch) one scalar value against a field type; throws mapper_parsing_exception. */
function checkValue(field: FieldMapping, path: string, value: unknown, id: string): void {
  if (value === null) return
  const fail = (causedBy: Json) =>
    new OsError(
      400,
      'mapper_parsing_exception',
      `failed to parse field [${path}] of type [${field.type}] in document with id '${id}'. Preview of field's value: '${preview(value)}'`,
      {},
      causedBy,
    )
  if (field.type === 'object') {
    throw new OsError(
      400,
      'mapper_parsing_exception',
      `object mapping for [${path}] tried to parse field [${path.split('.').pop()}] as object, but found a concrete value`,
    )
  }
  if (typeof value === 'object') {
    throw fail({ type: 'illegal_state_exception', reason: `Can't get text on a START_OBJECT at 1:${path.length + 5}` })
  }
  switch (field.type) {
    case 'keyword':
    case 'text':
      return
    case 'boolean':
      if (typeof value === 'boolean' || value === 'true' || value === 'false' || value === '') return
      throw fail({ type: 'illegal_argument_exception', reason: `Failed to parse value [${String(value)}] as only [true] or [false] are allowed.` })
    case 'date':
      if (parseDate(value) !== undefined) return
      throw fail({
        type: 'illegal_argument_exception',
        reason: `failed to parse date field [${String(value)}] with format [strict_date_optional_time||epoch_millis]`,
      })
    default: {
      // numeric
      if (typeof value === 'boolean') {
        throw fail({ type: 'json_parse_exception', reason: `Current token (VALUE_${String(value).toUpperCase()}) not numeric, can not use numeric value accessors` })
      }
      const n = typeof value === 'number' ? value : String(value).trim() === '' ? NaN : Number(value)
      if (!Number.isFinite(n)) throw fail({ type: 'number_format_exception', reason: `For input string: "${String(value)}"` })
      const range = INTEGER_RANGES[field.type]
      if (range && (n < range[0] || n > range[1])) {
        throw fail({ type: 'illegal_argument_exception', reason: `Value [${String(value)}] is out of range for ${field.type === 'long' ? 'a long' : `an ${field.type}`}` })
      }
    }
  }
}

function dynamicType(value: unknown): FieldMapping | undefined {
  if (value === null || value === undefined) return undefined
  if (Array.isArray(value)) {
    for (const v of value) {
      const t = dynamicType(v)
      if (t) return t
    }
    return undefined
  }
  switch (typeof value) {
    case 'boolean':
      return { type: 'boolean' }
    case 'number':
      return Number.isInteger(value) ? { type: 'long' } : { type: 'float' }
    case 'string':
      return looksLikeDate(value)
        ? { type: 'date' }
        : { type: 'text', fields: new Map([['keyword', { type: 'keyword', ignoreAbove: 256 }]]) }
    case 'object':
      return { type: 'object', properties: new Map() }
    default:
      return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Documents and indices
// ---------------------------------------------------------------------------------------------

interface Doc {
  readonly id: string
  readonly source: Json
  /** The source exactly as sent, returned verbatim in `_source`. */
  readonly raw: string
  readonly version: number
  readonly seqNo: number
  /** Order of arrival, for `_doc` sorts. */
  readonly docNo: number
  readonly hash: number
}

/** What a refresh makes searchable: an immutable list, shared by PITs taken on it. */
interface Snapshot {
  readonly index: Index
  readonly docs: readonly Doc[]
  readonly cache: Map<string, SortedHits>
}

interface SortedHits {
  readonly entries: readonly { doc: Doc; values: SortValue[] }[]
}

type SortValue = number | string | bigint | null

const LONG_MAX = 9223372036854775807n
const LONG_MIN = -9223372036854775808n

class Index {
  readonly uuid = randomBytes(16).toString('base64url').slice(0, 22)
  readonly created = Date.now()
  readonly docs = new Map<string, Doc>()
  readonly tombstones = new Map<string, { version: number; at: number }>()
  properties: Map<string, FieldMapping>
  dynamic: true | false | 'strict'
  seqNo = 0
  docNo = 0
  dirty = false
  snapshot: Snapshot
  readonly settings: Json

  constructor(
    readonly name: string,
    mappings: Json | undefined,
    settings: Json | undefined,
  ) {
    const { properties, dynamic, ...rest } = (mappings ?? {}) as Json
    const unknown = Object.keys(rest).filter((k) => !['_source', '_meta', 'dynamic_templates', 'date_detection', 'numeric_detection', '_routing'].includes(k))
    if (unknown.length > 0) {
      throw new OsError(
        400,
        'mapper_parsing_exception',
        `Root mapping definition has unsupported parameters:  [${unknown.map((k) => `${k} : ${preview(rest[k])}`).join('] [')}]`,
      )
    }
    this.properties = parseProperties(properties, '')
    this.dynamic = dynamic === 'strict' ? 'strict' : dynamic === false || dynamic === 'false' ? false : true
    this.settings = settings ?? {}
    this.snapshot = { index: this, docs: [], cache: new Map() }
  }

  mappingJson(): Json {
    return { mappings: { ...(this.dynamic !== true ? { dynamic: String(this.dynamic) } : {}), properties: mappingToJson(this.properties) } }
  }

  refresh(): void {
    if (!this.dirty) return
    this.dirty = false
    this.snapshot = { index: this, docs: [...this.docs.values()], cache: new Map() }
  }

  /** Resolves a field path (`detail.time`, `id.keyword`) to its mapping and the source path holding its value. */
  resolveField(path: string): { field: FieldMapping; sourcePath: string[] } | undefined {
    const parts = path.split('.')
    let props: Map<string, FieldMapping> | undefined = this.properties
    const sourcePath: string[] = []
    for (let i = 0; i < parts.length; i++) {
      const f: FieldMapping | undefined = props?.get(parts[i]!)
      if (!f) return undefined
      sourcePath.push(parts[i]!)
      if (i === parts.length - 1) return { field: f, sourcePath }
      if (f.type === 'object') {
        props = f.properties
      } else if (f.fields && i === parts.length - 2) {
        const sub = f.fields.get(parts[i + 1]!)
        return sub ? { field: sub, sourcePath } : undefined
      } else return undefined
    }
    return undefined
  }

  /**
   * Checks a document against the mapping, adding dynamic fields. New fields are added only when
   * the whole document fits, like OpenSearch's mapping update after a successful parse.
   */
  checkDocument(source: Json, id: string): void {
    // New fields per mapping level, applied only when the whole document fits.
    const added = new Map<Map<string, FieldMapping>, Map<string, FieldMapping>>()
    const walk = (obj: Json, props: Map<string, FieldMapping>, prefix: string) => {
      for (const [key, value] of Object.entries(obj)) {
        const path = prefix ? `${prefix}.${key}` : key
        if (key === '') throw new OsError(400, 'mapper_parsing_exception', `field name cannot be an empty string`)
        if (prefix === '' && key.startsWith('_') && ['_id', '_index', '_source', '_version', '_seq_no', '_routing'].includes(key)) {
          throw new OsError(
            400,
            'mapper_parsing_exception',
            `Field [${key}] is a metadata field and cannot be added inside a document. Use the index API request parameters.`,
          )
        }
        let field = props.get(key) ?? added.get(props)?.get(key)
        if (!field) {
          const t = dynamicType(value)
          if (!t) continue
          if (this.dynamic === 'strict') {
            throw new OsError(
              400,
              'strict_dynamic_mapping_exception',
              `mapping set to strict, dynamic introduction of [${key}] within [${prefix || '_doc'}] is not allowed`,
            )
          }
          if (this.dynamic === false) continue
          field = t
          if (!added.has(props)) added.set(props, new Map())
          added.get(props)!.set(key, t)
        }
        const values = Array.isArray(value) ? value : [value]
        for (const v of values) {
          if (field.type === 'object') {
            if (v === null) continue
            if (typeof v !== 'object' || Array.isArray(v)) checkValue(field, path, v, id)
            walk(v as Json, field.properties ?? (field.properties = new Map()), path)
          } else if (Array.isArray(v)) {
            for (const inner of v) checkValue(field, path, inner, id)
          } else {
            checkValue(field, path, v, id)
          }
        }
      }
    }
    walk(source, this.properties, '')
    if (added.size > 0) {
      for (const [target, fields] of added) for (const [k, f] of fields) if (!target.has(k)) target.set(k, f)
      if (countFields(this.properties) > TOTAL_FIELDS_LIMIT) {
        throw new OsError(400, 'illegal_argument_exception', `Limit of total fields [${TOTAL_FIELDS_LIMIT}] has been exceeded`)
      }
    }
  }
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

function getPath(source: unknown, path: readonly string[]): unknown {
  let current: unknown = source
  for (let i = 0; i < path.length; i++) {
    if (current === null || current === undefined) return undefined
    if (Array.isArray(current)) {
      const rest = path.slice(i)
      const values = current.map((c) => getPath(c, rest)).flat()
      return values.length ? values : undefined
    }
    if (typeof current !== 'object') return undefined
    const obj = current as Json
    if (path[i]! in obj) {
      current = obj[path[i]!]
      continue
    }
    // A source key holding dots stands for the nested path.
    for (let j = path.length; j > i + 1; j--) {
      const joined = path.slice(i, j).join('.')
      if (joined in obj) return getPath(obj[joined], path.slice(j))
    }
    return undefined
  }
  return current
}

function timeValueMs(value: unknown, setting: string): number {
  const text = String(value ?? '')
  const m = /^(\d+)(nanos|micros|ms|s|m|h|d)$/.exec(text.trim())
  if (!m) {
    throw new OsError(
      400,
      'illegal_argument_exception',
      `failed to parse setting [${setting}] with value [${text}] as a time value: unit is missing or unrecognized`,
    )
  }
  const n = Number(m[1])
  const unit = { nanos: 1e-6, micros: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms']
  return n * unit
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

type Matcher = (doc: Doc) => boolean

function analyze(text: string): string[] {
  return text.toLowerCase().split(/[^\p{L}\p{N}_]+/u).filter(Boolean)
}

function unknownQuery(name: string): OsError {
  return new OsError(400, 'parsing_exception', `unknown query [${name}]`, { line: 1, col: 1 }, {
    type: 'named_object_not_found_exception',
    reason: `[1:1] unknown field [${name}]`,
  })
}

function compileQuery(index: Index, query: unknown): Matcher {
  if (query === undefined) return () => true
  if (!query || typeof query !== 'object' || Array.isArray(query)) {
    throw new OsError(400, 'parsing_exception', '[_na] query malformed, must start with start_object', { line: 1, col: 1 })
  }
  const entries = Object.entries(query as Json)
  if (entries.length !== 1) {
    throw new OsError(400, 'parsing_exception', `[${entries[0]?.[0] ?? '_na'}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]`, { line: 1, col: 1 })
  }
  const [name, body] = entries[0]!
  const fieldQuery = (b: unknown): [string, unknown] => {
    const fe = Object.entries((b ?? {}) as Json)
    if (fe.length !== 1) throw new OsError(400, 'parsing_exception', `[${name}] query doesn't support multiple fields`, { line: 1, col: 1 })
    return fe[0]!
  }
  switch (name) {
    case 'match_all':
      return () => true
    case 'match_none':
      return () => false
    case 'ids': {
      const values = new Set(((body as Json)?.values as unknown[] | undefined)?.map(String) ?? [])
      return (doc) => values.has(doc.id)
    }
    case 'exists': {
      const field = String((body as Json)?.field)
      const resolved = index.resolveField(field)
      if (!resolved) return () => false
      return (doc) => {
        const v = getPath(doc.source, resolved.sourcePath)
        return v !== undefined && v !== null && !(Array.isArray(v) && v.every((x) => x === null))
      }
    }
    case 'term':
    case 'terms':
    case 'match': {
      let field: string
      let wanted: unknown[]
      if (name === 'terms') {
        const fe = Object.entries((body ?? {}) as Json).filter(([k]) => k !== 'boost')
        if (fe.length !== 1) throw new OsError(400, 'parsing_exception', '[terms] query does not support multiple fields', { line: 1, col: 1 })
        field = fe[0]![0]
        if (!Array.isArray(fe[0]![1])) throw new OsError(400, 'parsing_exception', `[terms] query does not support [${field}]`, { line: 1, col: 1 })
        wanted = fe[0]![1] as unknown[]
      } else {
        const [f, v] = fieldQuery(body)
        field = f
        const value = v !== null && typeof v === 'object' ? (v as Json)[name === 'match' ? 'query' : 'value'] : v
        wanted = [value]
      }
      if (field === '_id') {
        const ids = new Set(wanted.map(String))
        return (doc) => ids.has(doc.id)
      }
      const resolved = index.resolveField(field)
      if (!resolved) return () => false
      const f = resolved.field
      const path = resolved.sourcePath
      if (f.type === 'text') {
        const tokens = new Set(name === 'match' ? wanted.flatMap((w) => analyze(String(w))) : wanted.map(String))
        return (doc) => {
          const v = getPath(doc.source, path)
          const values = Array.isArray(v) ? v : [v]
          return values.some((x) => x !== null && x !== undefined && analyze(String(x)).some((t) => tokens.has(t)))
        }
      }
      const norm = (x: unknown): unknown => normalize(f, x)
      const set = new Set(wanted.map(norm))
      return (doc) => {
        const v = getPath(doc.source, path)
        const values = Array.isArray(v) ? v : [v]
        return values.some((x) => x !== null && x !== undefined && set.has(norm(x)))
      }
    }
    case 'range': {
      const [field, spec] = fieldQuery(body)
      const resolved = index.resolveField(field)
      if (!resolved) return () => false
      const f = resolved.field
      const s = (spec ?? {}) as Json
      const bound = (k: string) => (s[k] === undefined || s[k] === null ? undefined : normalize(f, s[k]))
      const gt = bound('gt')
      const gte = bound('gte') ?? bound('from')
      const lt = bound('lt')
      const lte = bound('lte') ?? bound('to')
      for (const b of [gt, gte, lt, lte]) {
        if (b !== undefined && typeof b === 'number' && Number.isNaN(b)) {
          throw new OsError(400, 'parse_exception', `failed to parse date field [${String(s.gte ?? s.gt ?? s.lt ?? s.lte)}] with format [strict_date_optional_time||epoch_millis]`)
        }
      }
      const cmp = (a: unknown, b: unknown) => ((a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0)
      return (doc) => {
        const v = getPath(doc.source, resolved.sourcePath)
        const values = Array.isArray(v) ? v : [v]
        return values.some((x) => {
          if (x === null || x === undefined) return false
          const n = normalize(f, x)
          if (gt !== undefined && !(cmp(n, gt) > 0)) return false
          if (gte !== undefined && !(cmp(n, gte) >= 0)) return false
          if (lt !== undefined && !(cmp(n, lt) < 0)) return false
          if (lte !== undefined && !(cmp(n, lte) <= 0)) return false
          return true
        })
      }
    }
    case 'bool': {
      const b = (body ?? {}) as Json
      const list = (k: string): Matcher[] => {
        const v = b[k]
        if (v === undefined) return []
        return (Array.isArray(v) ? v : [v]).map((q) => compileQuery(index, q))
      }
      for (const k of Object.keys(b)) {
        if (!['must', 'filter', 'should', 'must_not', 'minimum_should_match', 'boost', '_name'].includes(k)) {
          throw new OsError(400, 'parsing_exception', `[bool] query does not support [${k}]`, { line: 1, col: 1 })
        }
      }
      const must = [...list('must'), ...list('filter')]
      const should = list('should')
      const mustNot = list('must_not')
      const minShould = b.minimum_should_match !== undefined ? Number(b.minimum_should_match) : must.length > 0 ? 0 : should.length > 0 ? 1 : 0
      return (doc) =>
        must.every((m) => m(doc)) &&
        !mustNot.some((m) => m(doc)) &&
        (minShould === 0 || should.filter((m) => m(doc)).length >= minShould)
    }
    default:
      throw unknownQuery(name)
  }
}

function normalize(field: FieldMapping, value: unknown): unknown {
  if (field.type === 'date') return parseDate(value) ?? NaN
  if (NUMERIC_TYPES.has(field.type)) return typeof value === 'number' ? value : Number(value)
  if (field.type === 'boolean') return value === true || value === 'true'
  return String(value)
}

// ---------------------------------------------------------------------------------------------
// Sorting
// ---------------------------------------------------------------------------------------------

interface SortSpec {
  readonly field: string
  readonly desc: boolean
  readonly missingFirst: boolean
  /** Where the value comes from. */
  readonly kind: 'id' | 'doc' | 'score' | 'number' | 'string' | 'unmapped'
  readonly sourcePath?: readonly string[]
  readonly fieldType?: FieldType
}

function parseSort(raw: unknown): { field: string; order?: string; missing?: unknown; unmappedType?: string }[] {
  if (raw === undefined) return []
  const list = Array.isArray(raw) ? raw : [raw]
  return list.map((entry) => {
    if (typeof entry === 'string') return { field: entry }
    if (entry && typeof entry === 'object') {
      const [[field, spec]] = Object.entries(entry as Json) as [[string, unknown]]
      if (typeof spec === 'string') {
        if (spec !== 'asc' && spec !== 'desc') {
          throw new OsError(400, 'illegal_argument_exception', `No sort order for [${spec}]`)
        }
        return { field, order: spec }
      }
      const s = (spec ?? {}) as Json
      for (const k of Object.keys(s)) {
        if (!['order', 'missing', 'unmapped_type', 'mode', 'numeric_type', 'format'].includes(k)) {
          throw new OsError(400, 'x_content_parse_exception', `[1:1] [field_sort] unknown field [${k}]`)
        }
      }
      if (s.order !== undefined && s.order !== 'asc' && s.order !== 'desc') {
        throw new OsError(400, 'illegal_argument_exception', `No sort order for [${String(s.order)}]`)
      }
      return { field, order: s.order as string | undefined, missing: s.missing, unmappedType: s.unmapped_type as string | undefined }
    }
    throw new OsError(400, 'parsing_exception', 'malformed sort format, within the sort array, an object, or an actual string are allowed', { line: 1, col: 1 })
  })
}

function resolveSort(snapshot: Snapshot, sorts: ReturnType<typeof parseSort>, idFieldData: boolean): SortSpec[] {
  const index = snapshot.index
  return sorts.map((s) => {
    const desc = s.order ? s.order === 'desc' : s.field === '_score'
    const missingFirst = s.missing === '_first'
    if (s.field === '_id') {
      if (!idFieldData) {
        throw shardFailure(index, 400, {
          type: 'illegal_argument_exception',
          reason:
            'Fielddata access on the _id field is disallowed, you can re-enable it by updating the dynamic cluster setting: indices.id_field_data.enabled',
        })
      }
      return { field: '_id', desc, missingFirst, kind: 'id' }
    }
    if (s.field === '_doc' || s.field === '_shard_doc') return { field: s.field, desc, missingFirst, kind: 'doc' }
    if (s.field === '_score') return { field: '_score', desc, missingFirst, kind: 'score' }
    const resolved = index.resolveField(s.field)
    if (!resolved) {
      if (s.unmappedType) return { field: s.field, desc, missingFirst, kind: 'unmapped' }
      throw shardFailure(index, 400, { type: 'query_shard_exception', reason: `No mapping found for [${s.field}] in order to sort on`, index: index.name, index_uuid: index.uuid })
    }
    const f = resolved.field
    if (f.type === 'text') {
      throw shardFailure(index, 400, {
        type: 'illegal_argument_exception',
        reason: `Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [${s.field}] in order to load field data by uninverting the inverted index. Note that this can use significant memory.`,
      })
    }
    if (f.type === 'object') {
      throw shardFailure(index, 400, { type: 'illegal_argument_exception', reason: `Fielddata is not supported on field [${s.field}] of type [object]` })
    }
    const kind = f.type === 'keyword' ? 'string' : 'number'
    return { field: s.field, desc, missingFirst, kind, sourcePath: resolved.sourcePath, fieldType: f.type }
  })
}

function shardFailure(index: Index, status: number, cause: Json): SearchPhaseError {
  return new SearchPhaseError(status, cause, { shard: 0, index: index.name, node: 'hydrator-node-1' })
}

function sortValueOf(doc: Doc, spec: SortSpec): SortValue {
  switch (spec.kind) {
    case 'id':
      return doc.id
    case 'doc':
      return doc.docNo
    case 'score':
      return 1
    case 'unmapped':
      return null
    default: {
      const raw = getPath(doc.source, spec.sourcePath!)
      const values = (Array.isArray(raw) ? raw : [raw]).filter((v) => v !== null && v !== undefined)
      if (values.length === 0) return null
      const norm = values.map((v) => {
        if (spec.kind === 'string') return String(v)
        if (spec.fieldType === 'date') return parseDate(v) ?? 0
        if (spec.fieldType === 'boolean') return v === true || v === 'true' ? 1 : 0
        const n = typeof v === 'number' ? v : Number(v)
        return spec.fieldType && INTEGER_RANGES[spec.fieldType] ? Math.trunc(n) : n
      })
      // Sort mode: min for ascending, max for descending.
      return norm.reduce((a, b) => ((spec.desc ? compareScalar(b, a) > 0 : compareScalar(b, a) < 0) ? b : a))
    }
  }
}

/** UTF-8 byte order for strings (what Lucene's BytesRef comparison gives), numeric order for numbers. */
function compareScalar(a: number | string, b: number | string): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0
  const x = String(a)
  const y = String(b)
  if (x === y) return 0
  // Code point order equals UTF-8 byte order.
  const n = Math.min(x.length, y.length)
  for (let i = 0; i < n; i++) {
    const cx = x.codePointAt(i)!
    const cy = y.codePointAt(i)!
    if (cx !== cy) return cx < cy ? -1 : 1
    if (cx > 0xffff) i++
  }
  return x.length < y.length ? -1 : x.length > y.length ? 1 : 0
}

/** Compares two sort tuples under the specs; a null value (missing) sorts last unless `missing: _first`. */
function compareTuples(a: readonly SortValue[], b: readonly SortValue[], specs: readonly SortSpec[]): number {
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i]!
    const x = a[i] ?? null
    const y = b[i] ?? null
    if (x === y) continue
    const xm = x === null || typeof x === 'bigint'
    const ym = y === null || typeof y === 'bigint'
    if (xm || ym) {
      if (xm && ym) continue
      // missing sorts last (or first) whatever the order
      return (xm ? 1 : -1) * (spec.missingFirst ? -1 : 1)
    }
    const c = compareScalar(x as number | string, y as number | string)
    if (c !== 0) return spec.desc ? -c : c
  }
  return 0
}

/** The sort values a hit shows: missing numerics are Long.MAX_VALUE / Long.MIN_VALUE, missing keywords null. */
function displaySortValue(value: SortValue, spec: SortSpec): SortValue {
  if (value !== null) return value
  if (spec.kind === 'number') return spec.desc !== spec.missingFirst ? LONG_MIN : LONG_MAX
  return null
}

function parseSearchAfter(values: unknown, specs: readonly SortSpec[], index: Index): SortValue[] {
  if (!Array.isArray(values)) {
    throw new OsError(400, 'parsing_exception', '[search_after] only supports arrays, got VALUE_STRING', { line: 1, col: 1 })
  }
  if (specs.length === 0) {
    throw shardFailure(index, 400, { type: 'illegal_argument_exception', reason: 'Sort must contain at least one field.' })
  }
  if (values.length !== specs.length) {
    throw shardFailure(index, 400, {
      type: 'illegal_argument_exception',
      reason: `search_after has ${values.length} value(s) but sort has ${specs.length}.`,
    })
  }
  return values.map((v, i) => {
    const spec = specs[i]!
    if (v === null) {
      if (spec.kind === 'string' || spec.kind === 'unmapped') return null
      throw shardFailure(index, 400, { type: 'illegal_argument_exception', reason: `search_after doesn't support null values for field [${spec.field}]` })
    }
    if (spec.kind === 'string' || spec.kind === 'id') {
      if (typeof v === 'object') {
        throw new OsError(400, 'parsing_exception', `Can't parse search_after: expected a value, got START_OBJECT`, { line: 1, col: 1 })
      }
      return String(v)
    }
    if (spec.kind === 'number' && spec.fieldType === 'date' && typeof v === 'string' && !/^-?\d+$/.test(v)) {
      const t = parseDate(v)
      if (t === undefined) {
        throw shardFailure(index, 400, { type: 'parse_exception', reason: `failed to parse date field [${v}] with format [strict_date_optional_time||epoch_millis]` })
      }
      return t
    }
    const n = typeof v === 'number' ? v : Number(v)
    if (!Number.isFinite(n)) {
      throw shardFailure(index, 400, { type: 'number_format_exception', reason: `For input string: "${String(v)}"` })
    }
    // Long.MAX_VALUE / MIN_VALUE after a round trip through a double stand for "missing".
    if (Math.abs(n) >= 9.2e18) return n > 0 ? LONG_MAX : LONG_MIN
    return n
  })
}

// ---------------------------------------------------------------------------------------------
// The cluster
// ---------------------------------------------------------------------------------------------

interface Pit {
  readonly id: string
  readonly snapshots: readonly Snapshot[]
  keepAliveMs: number
  expiresAt: number
  searches: number
  readonly created: number
  readonly contextId: number
}

const COMMON_PARAMS = ['pretty', 'human', 'error_trace', 'filter_path', 'source', 'source_content_type']

interface Request {
  readonly method: string
  readonly path: string
  readonly segments: readonly string[]
  readonly params: URLSearchParams
  readonly body: Buffer | undefined
  readonly contentType: string
}

class Cluster {
  readonly indices = new Map<string, Index>()
  /** Aliases: alias name -> index name -> its properties (`is_write_index`, `filter`, routing). */
  readonly aliases = new Map<string, Map<string, Json>>()
  readonly pits = new Map<string, Pit>()
  readonly faults: Faults = {}
  readonly stats = { bulkItemCounts: [] as number[], searches: 0, pitsCreated: 0, pitsDeleted: 0, requests: 0 }
  readonly itemAttempts = new Map<string, number>()
  readonly uuid = randomBytes(16).toString('base64url').slice(0, 22)
  contextIds = 0

  constructor(readonly options: OpenSearchServerOptions) {}

  reset(): void {
    this.indices.clear()
    this.aliases.clear()
    this.pits.clear()
    this.itemAttempts.clear()
    for (const k of Object.keys(this.faults)) delete (this.faults as Record<string, unknown>)[k]
    Object.assign(this.stats, { bulkItemCounts: [], searches: 0, pitsCreated: 0, pitsDeleted: 0, requests: 0 })
  }

  refreshAll(): void {
    for (const index of this.indices.values()) index.refresh()
  }

  openPitCount(): number {
    this.expirePits()
    return this.pits.size
  }

  documents(name: string): { _id: string; _version: number; _source: Json }[] {
    const index = this.indices.get(this.aliases.has(name) ? this.singleIndexName(name) : name)
    if (!index) return []
    return [...index.docs.values()]
      .sort((a, b) => compareScalar(a.id, b.id))
      .map((d) => ({ _id: d.id, _version: d.version, _source: d.source }))
  }

  expirePits(): void {
    const now = Date.now()
    for (const [id, pit] of this.pits) if (pit.expiresAt <= now) this.pits.delete(id)
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    let body: Buffer | undefined = chunks.length ? Buffer.concat(chunks) : undefined
    this.stats.requests++
    const url = new URL(req.url ?? '/', 'http://localhost')
    const method = (req.method ?? 'GET').toUpperCase()
    const path = url.pathname
    const isHead = method === 'HEAD'

    const reply = (status: number, payload: unknown, raw?: string) => {
      if (isHead) {
        res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': 0 })
        res.end()
        return
      }
      sendJson(res, status, payload, raw)
    }

    // Security plugin: basic auth.
    if (this.options.users) {
      const header = req.headers.authorization ?? ''
      const m = /^Basic (.+)$/i.exec(header)
      const [user, ...rest] = m ? Buffer.from(m[1]!, 'base64').toString('utf8').split(':') : []
      if (!user || this.options.users[user] === undefined || this.options.users[user] !== rest.join(':')) {
        res.writeHead(401, { 'content-type': 'text/plain; charset=UTF-8', 'www-authenticate': 'Basic realm="OpenSearch Security"' })
        res.end('Unauthorized')
        return
      }
    }
    if (this.options.requireSigV4) {
      const header = String(req.headers.authorization ?? '')
      if (!header.startsWith('AWS4-HMAC-SHA256 ') || !req.headers['x-amz-date'] || !/Credential=[^/]+\/\d{8}\/[a-z0-9-]+\/(es|aoss)\/aws4_request/.test(header)) {
        reply(403, { message: 'The request signature we calculated does not match the signature you provided.' })
        return
      }
    }

    const faultStatus = this.faults.request?.({ method, path, bodyBytes: body?.length ?? 0 })
    if (faultStatus === 413) {
      // What an HTTP layer over http.max_content_length answers: no JSON body.
      res.writeHead(413, { 'content-length': 0 })
      res.end()
      return
    }
    if (faultStatus) {
      reply(
        faultStatus,
        faultStatus === 429
          ? errorBody(429, 'rejected_execution_exception', rejectionReason('coordinating'))
          : errorBody(faultStatus, 'unavailable_shards_exception', '[events][0] primary shard is not active Timeout: [1m]'),
      )
      return
    }

    try {
      if (body && /gzip/i.test(String(req.headers['content-encoding'] ?? ''))) body = gunzipSync(body)
      const contentType = String(req.headers['content-type'] ?? '')
      if (body && body.length > 0 && !/^application\/(json|x-ndjson|vnd\.opensearch\+(json|x-ndjson))/i.test(contentType)) {
        reply(406, { error: `Content-Type header [${contentType}] is not supported`, status: 406 })
        return
      }
      const segments = path.split('/').filter(Boolean).map(decodeURIComponent)
      const request: Request = { method, path, segments, params: url.searchParams, body: body?.length ? body : undefined, contentType }
      const [status, payload, raw] = this.route(request)
      if (this.faults.dropResponse?.({ method, path })) {
        res.socket?.destroy()
        return
      }
      reply(status, payload, raw)
    } catch (error) {
      if (error instanceof OsError) return reply(error.status, osErrorBody(error))
      if (error instanceof SearchPhaseError) return reply(error.status, searchPhaseBody(error))
      throw error
    }
  }

  private route(req: Request): [number, unknown, string?] {
    const { method, segments: s } = req
    const n = s.length
    if (n === 0) {
      if (method === 'GET' || method === 'HEAD') return this.info(req)
      return this.noHandler(req)
    }
    if (s[0] === '_bulk' && n === 1) return this.allow(req, ['POST', 'PUT'], () => this.bulk(req, undefined))
    if (s[0] === '_refresh' && n === 1) return this.allow(req, ['POST', 'GET'], () => this.refresh(req, undefined))
    if (s[0] === '_search' && n === 1) return this.allow(req, ['GET', 'POST'], () => this.search(req, undefined))
    if (s[0] === '_count' && n === 1) return this.allow(req, ['GET', 'POST'], () => this.count(req, undefined))
    if (s[0] === '_mget' && n === 1) return this.allow(req, ['GET', 'POST'], () => this.mget(req, undefined))
    if (s[0] === '_aliases' && n === 1) return this.allow(req, ['POST'], () => this.updateAliases(req))
    if (s[0] === '_alias' && n === 2) return this.allow(req, ['GET'], () => this.getAliases(req, undefined, s[1]!))
    if (s[0] === '_search' && s[1] === 'point_in_time') {
      if (n === 2) return this.allow(req, ['DELETE'], () => this.deletePits(req))
      if (n === 3 && s[2] === '_all') return this.allow(req, ['GET', 'DELETE'], () => (req.method === 'GET' ? this.listPits(req) : this.deleteAllPits(req)))
    }
    if (s[0] === '_cluster' && s[1] === 'health' && n === 2) {
      return this.allow(req, ['GET'], () => [200, { cluster_name: 'hydrator-test', status: 'green', number_of_nodes: 1, number_of_data_nodes: 1, timed_out: false }])
    }
    if (s[0]!.startsWith('_')) return this.noHandler(req)
    const index = s[0]!
    if (n === 1) {
      if (method === 'PUT') return this.createIndex(req, index)
      if (method === 'HEAD') return this.indexExists(req, index)
      if (method === 'GET') return this.getIndex(req, index)
      if (method === 'DELETE') return this.deleteIndex(req, index)
      return this.methodNotAllowed(req, ['PUT', 'HEAD', 'GET', 'DELETE'])
    }
    switch (s[1]) {
      case '_bulk':
        if (n === 2) return this.allow(req, ['POST', 'PUT'], () => this.bulk(req, index))
        break
      case '_refresh':
        if (n === 2) return this.allow(req, ['POST', 'GET'], () => this.refresh(req, index))
        break
      case '_mapping':
        if (n === 2) return this.allow(req, ['GET'], () => this.getMapping(req, index))
        break
      case '_settings':
        if (n === 2) return this.allow(req, ['GET'], () => this.getSettings(req, index))
        break
      case '_alias':
        if (n === 2 || n === 3) return this.allow(req, ['GET'], () => this.getAliases(req, index, s[2]))
        break
      case '_count':
        if (n === 2) return this.allow(req, ['GET', 'POST'], () => this.count(req, index))
        break
      case '_search':
        if (n === 2) return this.allow(req, ['GET', 'POST'], () => this.search(req, index))
        if (n === 3 && s[2] === 'point_in_time') return this.allow(req, ['POST'], () => this.createPit(req, index))
        break
      case '_doc':
        if (n === 3) return this.doc(req, index, s[2]!)
        break
      case '_mget':
        if (n === 2) return this.allow(req, ['GET', 'POST'], () => this.mget(req, index))
        break
    }
    return this.noHandler(req)
  }

  private allow(req: Request, methods: string[], fn: () => [number, unknown, string?]): [number, unknown, string?] {
    if (!methods.includes(req.method)) return this.methodNotAllowed(req, methods)
    return fn()
  }

  private methodNotAllowed(req: Request, methods: string[]): [number, unknown] {
    return [405, { error: `Incorrect HTTP method for uri [${req.path}] and method [${req.method}], allowed: [${methods.join(', ')}]`, status: 405 }]
  }

  private noHandler(req: Request): [number, unknown] {
    return [400, { error: `no handler found for uri [${req.path}] and method [${req.method}]` }]
  }

  private checkParams(req: Request, allowed: string[]): void {
    const unknown = [...new Set(req.params.keys())].filter((k) => !allowed.includes(k) && !COMMON_PARAMS.includes(k))
    if (unknown.length === 1) {
      throw new OsError(400, 'illegal_argument_exception', `request [${req.path}] contains unrecognized parameter: [${unknown[0]}]`)
    }
    if (unknown.length > 1) {
      throw new OsError(400, 'illegal_argument_exception', `request [${req.path}] contains unrecognized parameters: [${unknown.join('], [')}]`)
    }
  }

  private jsonBody(req: Request, required = false): Json | undefined {
    if (!req.body) {
      if (required) throw new OsError(400, 'parse_exception', 'request body is required')
      return undefined
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(req.body.toString('utf8'))
    } catch (error) {
      throw new OsError(400, 'json_parse_exception', `Unexpected character: ${(error as Error).message}`)
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new OsError(400, 'parse_exception', 'request body or source parameter is required')
    }
    return parsed as Json
  }

  private getIndexOrThrow(name: string): Index {
    const index = this.indices.get(name)
    if (!index) throw indexNotFound(name)
    return index
  }

  /** Resolves an index expression (comma list, `*` wildcards, `_all`) to indices; a missing concrete name is 404. */
  private resolveIndices(expression: string | undefined): Index[] {
    if (expression === undefined || expression === '_all' || expression === '*') return [...this.indices.values()]
    const out = new Set<Index>()
    for (const part of expression.split(',')) {
      if (part.includes('*')) {
        const re = new RegExp(`^${part.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
        for (const index of this.indices.values()) if (re.test(index.name)) out.add(index)
      } else if (this.aliases.has(part)) {
        for (const name of this.aliases.get(part)!.keys()) out.add(this.getIndexOrThrow(name))
      } else out.add(this.getIndexOrThrow(part))
    }
    return [...out]
  }

  /** The concrete index a write to `name` goes to: the index itself, or its alias's write index. */
  private writeIndexName(name: string): string {
    const alias = this.aliases.get(name)
    if (!alias) return name
    const entries = [...alias.entries()]
    const explicit = entries.filter(([, p]) => p.is_write_index === true)
    if (explicit.length === 1) return explicit[0]![0]
    if (entries.length === 1 && entries[0]![1].is_write_index !== false) return entries[0]![0]
    throw new OsError(
      400,
      'illegal_argument_exception',
      `no write index is defined for alias [${name}]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index`,
    )
  }

  /** The one index a single-document read of `name` means: the index, or an alias of exactly one. */
  private singleIndexName(name: string): string {
    const alias = this.aliases.get(name)
    if (!alias) return name
    if (alias.size !== 1) {
      throw new OsError(400, 'illegal_argument_exception', `alias [${name}] has more than one index associated with it [${[...alias.keys()].sort().join(', ')}], can't execute a single index op`)
    }
    return [...alias.keys()][0]!
  }

  // ---------------------------------------------------------------- cluster and indices

  private info(req: Request): [number, unknown] {
    this.checkParams(req, [])
    return [
      200,
      {
        name: 'hydrator-node-1',
        cluster_name: 'hydrator-test',
        cluster_uuid: this.uuid,
        version: {
          distribution: 'opensearch',
          number: this.options.versionNumber ?? '2.19.1',
          build_type: 'tar',
          build_hash: 'f1e2d3c4b5a6978877665544332211aabbccddee',
          build_date: '2025-02-27T01:16:47.726162386Z',
          build_snapshot: false,
          lucene_version: '9.12.1',
          minimum_wire_compatibility_version: '7.10.0',
          minimum_index_compatibility_version: '7.0.0',
        },
        tagline: 'The OpenSearch Project: https://opensearch.org/',
      },
    ]
  }

  private validateIndexName(name: string): void {
    const invalid = (why: string) =>
      new OsError(400, 'invalid_index_name_exception', `Invalid index name [${name}], ${why}`, { index: name, index_uuid: '_na_' })
    if (name !== name.toLowerCase()) throw invalid('must be lowercase')
    if (/[\\/*?"<>| ,#:]/.test(name)) throw invalid('must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?]')
    if (/^[-_+]/.test(name)) throw invalid("must not start with '_', '-', or '+'")
    if (name === '.' || name === '..') throw invalid("must not be '.' or '..'")
    if (Buffer.byteLength(name) > 255) throw invalid('index name is too long, (' + Buffer.byteLength(name) + ' > 255)')
  }

  private createIndex(req: Request, name: string): [number, unknown] {
    this.checkParams(req, ['wait_for_active_shards', 'timeout', 'master_timeout', 'cluster_manager_timeout'])
    this.validateIndexName(name)
    const body = this.jsonBody(req) ?? {}
    for (const k of Object.keys(body)) {
      if (!['settings', 'mappings', 'aliases'].includes(k)) {
        throw new OsError(400, 'parse_exception', `unknown key [${k}] for create index`)
      }
    }
    if (this.indices.has(name)) {
      const existing = this.indices.get(name)!
      throw new OsError(400, 'resource_already_exists_exception', `index [${name}/${existing.uuid}] already exists`, {
        index: name,
        index_uuid: existing.uuid,
      })
    }
    if (this.aliases.has(name)) {
      throw new OsError(400, 'invalid_index_name_exception', `Invalid index name [${name}], already exists as alias`, { index: name, index_uuid: '_na_' })
    }
    const settings = flattenSettings(body.settings)
    for (const key of Object.keys(settings)) {
      if (PRIVATE_SETTINGS.some((p) => key === p || key.startsWith(`${p}.`))) {
        throw new OsError(400, 'illegal_argument_exception', `private index setting [${key}] can not be set explicitly`)
      }
    }
    const aliases = (body.aliases ?? {}) as Json
    for (const alias of Object.keys(aliases)) {
      if (this.indices.has(alias) || alias === name) throw new OsError(400, 'invalid_alias_name_exception', `Invalid alias name [${alias}]: an index or data stream exists with the same name as the alias`)
    }
    const index = new Index(name, body.mappings as Json | undefined, settings)
    this.indices.set(name, index)
    for (const [alias, props] of Object.entries(aliases)) {
      if (!this.aliases.has(alias)) this.aliases.set(alias, new Map())
      this.aliases.get(alias)!.set(name, (props ?? {}) as Json)
    }
    return [200, { acknowledged: true, shards_acknowledged: true, index: name }]
  }

  private indexExists(req: Request, name: string): [number, unknown] {
    this.checkParams(req, ['allow_no_indices', 'expand_wildcards', 'flat_settings', 'ignore_unavailable', 'include_defaults', 'local', 'cluster_manager_timeout'])
    return [this.indices.has(name) || this.aliases.has(name) ? 200 : 404, undefined]
  }

  private getIndex(req: Request, expression: string): [number, unknown] {
    this.checkParams(req, ['allow_no_indices', 'expand_wildcards', 'flat_settings', 'ignore_unavailable', 'include_defaults', 'local', 'cluster_manager_timeout'])
    const out: Json = {}
    for (const index of this.resolveIndices(expression)) {
      out[index.name] = {
        aliases: this.aliasesOf(index.name),
        ...index.mappingJson(),
        settings: req.params.get('flat_settings') === 'true' ? this.settingsOf(index) : nestSettings(this.settingsOf(index)),
      }
    }
    return [200, out]
  }

  private getMapping(req: Request, expression: string): [number, unknown] {
    this.checkParams(req, ['allow_no_indices', 'expand_wildcards', 'ignore_unavailable', 'local', 'cluster_manager_timeout'])
    const out: Json = {}
    for (const index of this.resolveIndices(expression)) out[index.name] = index.mappingJson()
    return [200, out]
  }

  private deleteIndex(req: Request, expression: string): [number, unknown] {
    this.checkParams(req, ['allow_no_indices', 'expand_wildcards', 'ignore_unavailable', 'timeout', 'master_timeout', 'cluster_manager_timeout'])
    for (const part of expression.split(',')) {
      if (this.aliases.has(part)) {
        throw new OsError(400, 'illegal_argument_exception', `The provided expression [${part}] matches an alias, specify the corresponding concrete indices instead.`)
      }
    }
    for (const index of this.resolveIndices(expression)) this.dropIndex(index.name)
    return [200, { acknowledged: true }]
  }

  /** Removes an index and its aliases (an alias left with no index is gone). */
  private dropIndex(name: string): void {
    this.indices.delete(name)
    for (const [alias, members] of this.aliases) {
      members.delete(name)
      if (members.size === 0) this.aliases.delete(alias)
    }
  }

  private aliasesOf(index: string): Json {
    const out: Json = {}
    for (const [alias, members] of [...this.aliases].sort(([a], [b]) => compareScalar(a, b))) if (members.has(index)) out[alias] = members.get(index)!
    return out
  }

  /** An index's settings as `flat_settings=true` shows them: the ones it was created with, and the ones OpenSearch sets. */
  private settingsOf(index: Index): Json {
    return {
      'index.creation_date': String(index.created),
      'index.number_of_replicas': '1',
      'index.number_of_shards': '1',
      ...Object.fromEntries(Object.entries(index.settings).map(([k, v]) => [k, typeof v === 'object' && v !== null ? v : String(v)])),
      'index.provided_name': index.name,
      'index.uuid': index.uuid,
      'index.version.created': '136408127',
    }
  }

  private getSettings(req: Request, expression: string): [number, unknown] {
    this.checkParams(req, ['allow_no_indices', 'expand_wildcards', 'flat_settings', 'ignore_unavailable', 'include_defaults', 'local', 'cluster_manager_timeout'])
    const flat = req.params.get('flat_settings') === 'true'
    const out: Json = {}
    for (const index of this.resolveIndices(expression)) out[index.name] = { settings: flat ? this.settingsOf(index) : nestSettings(this.settingsOf(index)) }
    return [200, out]
  }

  /** `GET /_alias/<name>`, `GET /<index>/_alias[/<name>]`: `{ index: { aliases: { name: props } } }`; a named alias that is not there is 404. */
  private getAliases(req: Request, expression: string | undefined, name: string | undefined): [number, unknown] {
    this.checkParams(req, ['allow_no_indices', 'expand_wildcards', 'ignore_unavailable', 'local'])
    const indices = expression === undefined ? [...this.indices.values()] : this.resolveIndices(expression)
    const names = name === undefined || name === '_all' || name === '*' ? undefined : name.split(',')
    const out: Json = {}
    const found = new Set<string>()
    for (const index of indices) {
      const aliases: Json = {}
      for (const [alias, props] of Object.entries(this.aliasesOf(index.name))) {
        if (names && !names.includes(alias)) continue
        aliases[alias] = props
        found.add(alias)
      }
      if (names === undefined || Object.keys(aliases).length > 0) out[index.name] = { aliases }
    }
    const missing = (names ?? []).filter((n) => !found.has(n))
    if (missing.length > 0) return [404, { ...out, error: `alias [${missing.join(',')}] missing`, status: 404 }]
    return [200, out]
  }

  /**
   * `POST /_aliases`: every action is checked against the state the ones before it leave, and the
   * whole request applies only when all of them can (OpenSearch applies it as one cluster state
   * update): `add` and `remove` need their index, `remove` needs its alias on that index
   * (aliases_not_found_exception), `remove_index` needs a concrete index, and no alias may end with
   * two write indices.
   */
  private updateAliases(req: Request): [number, unknown] {
    this.checkParams(req, ['timeout', 'master_timeout', 'cluster_manager_timeout'])
    const body = this.jsonBody(req, true)!
    for (const k of Object.keys(body)) if (k !== 'actions') throw new OsError(400, 'parse_exception', `[aliases] unknown field [${k}]`)
    if (!Array.isArray(body.actions) || body.actions.length === 0) {
      throw validationError(['No action specified'])
    }
    const aliases = new Map([...this.aliases].map(([a, m]) => [a, new Map(m)]))
    const indices = new Set(this.indices.keys())
    const removed: string[] = []
    const list = (one: unknown, many: unknown, what: string): string[] => {
      const out = [...(one !== undefined ? [one] : []), ...(Array.isArray(many) ? many : many !== undefined ? [many] : [])].map(String)
      if (out.length === 0) throw validationError([`One of [${what}] or [${what}s] is required`])
      return out
    }
    for (const entry of body.actions as unknown[]) {
      if (!entry || typeof entry !== 'object' || Array.isArray(entry) || Object.keys(entry).length !== 1) {
        throw new OsError(400, 'parse_exception', 'expected an action object with exactly one of [add, remove, remove_index]')
      }
      const [type, spec] = Object.entries(entry as Json)[0]! as [string, Json]
      if (!['add', 'remove', 'remove_index'].includes(type)) throw new OsError(400, 'parse_exception', `[alias_action] unknown field [${type}]`)
      const targets = list(spec.index, spec.indices, 'index')
      for (const index of targets) {
        if (aliases.has(index) && !indices.has(index)) {
          throw new OsError(400, 'illegal_argument_exception', `The provided expression [${index}] matches an alias, specify the corresponding concrete indices instead.`)
        }
        if (!indices.has(index)) throw indexNotFound(index)
      }
      if (type === 'remove_index') {
        for (const index of targets) {
          indices.delete(index)
          removed.push(index)
          for (const [alias, members] of aliases) {
            members.delete(index)
            if (members.size === 0) aliases.delete(alias)
          }
        }
        continue
      }
      const names = list(spec.alias, spec.aliases, 'alias')
      for (const alias of names) {
        if (type === 'add') {
          if (indices.has(alias)) throw new OsError(400, 'invalid_alias_name_exception', `Invalid alias name [${alias}]: an index or data stream exists with the same name as the alias`)
          const { index: _i, indices: _is, alias: _a, aliases: _as, ...props } = spec
          for (const index of targets) {
            if (!aliases.has(alias)) aliases.set(alias, new Map())
            aliases.get(alias)!.set(index, props)
          }
        } else {
          const missing = targets.filter((index) => !aliases.get(alias)?.has(index))
          if (missing.length > 0 && spec.must_exist !== false) {
            throw new OsError(404, 'aliases_not_found_exception', `aliases [${alias}] missing`, { 'resource.id': alias, 'resource.type': 'aliases' })
          }
          for (const index of targets) aliases.get(alias)?.delete(index)
          if (aliases.get(alias)?.size === 0) aliases.delete(alias)
        }
      }
    }
    for (const [alias, members] of aliases) {
      const writers = [...members].filter(([, p]) => p.is_write_index === true).map(([i]) => i)
      if (writers.length > 1) throw new OsError(400, 'illegal_state_exception', `alias [${alias}] has more than one write index [${writers.sort().join(',')}]`)
    }
    for (const index of removed) this.indices.delete(index)
    this.aliases.clear()
    for (const [alias, members] of aliases) this.aliases.set(alias, members)
    return [200, { acknowledged: true }]
  }

  private refresh(req: Request, expression: string | undefined): [number, unknown] {
    this.checkParams(req, ['allow_no_indices', 'expand_wildcards', 'ignore_unavailable'])
    const indices = this.resolveIndices(expression)
    for (const index of indices) index.refresh()
    return [200, { _shards: { total: indices.length * 2, successful: indices.length, failed: 0 } }]
  }

  // ---------------------------------------------------------------- writes

  private applyRefreshParam(req: Request, touched: Iterable<Index>): void {
    const refresh = req.params.get('refresh')
    if (refresh === null || refresh === 'false') return
    if (refresh === '' || refresh === 'true' || refresh === 'wait_for') {
      for (const index of touched) index.refresh()
      return
    }
    throw new OsError(400, 'illegal_argument_exception', `Unknown value for refresh: [${refresh}].`)
  }

  /** Applies one write to an index; returns the item result or throws an OsError for the item. */
  private write(
    index: Index,
    action: 'index' | 'create' | 'delete',
    id: string,
    version: number | undefined,
    versionType: string,
    source?: { parsed: Json; raw: string },
  ): Json {
    const now = Date.now()
    const gc = this.options.gcDeletesMs ?? 60_000
    const current = index.docs.get(id)
    const tomb = index.tombstones.get(id)
    const tombVersion = tomb && now - tomb.at <= gc ? tomb.version : undefined
    const currentVersion = current?.version ?? tombVersion
    const conflict = (reason: string) =>
      new OsError(409, 'version_conflict_engine_exception', `[${id}]: version conflict, ${reason}`, {
        index: index.name,
        shard: '0',
        index_uuid: index.uuid,
      })
    const external = versionType === 'external' || versionType === 'external_gt' || versionType === 'external_gte'
    // The document is parsed against the mapping before the engine checks versions.
    if (action !== 'delete') index.checkDocument(source!.parsed, id)
    if (external && currentVersion !== undefined) {
      const stale = versionType === 'external_gte' ? currentVersion > version! : currentVersion >= version!
      if (stale) {
        throw conflict(
          `current version [${currentVersion}] is ${versionType === 'external_gte' ? 'higher than' : 'higher or equal to'} the one provided [${version}]`,
        )
      }
    }
    if (action === 'create' && current) throw conflict(`document already exists (current version [${current.version}])`)
    const seqNo = index.seqNo++
    const shards = { total: 2, successful: 1, failed: 0 }
    if (action === 'delete') {
      const newVersion = external ? version! : (currentVersion ?? 0) + 1
      index.tombstones.set(id, { version: newVersion, at: now })
      if (current) {
        index.docs.delete(id)
        index.dirty = true
      }
      return {
        _index: index.name,
        _id: id,
        _version: newVersion,
        result: current ? 'deleted' : 'not_found',
        _shards: shards,
        _seq_no: seqNo,
        _primary_term: 1,
        status: current ? 200 : 404,
      }
    }
    const newVersion = external ? version! : (currentVersion ?? 0) + 1
    index.docs.set(id, {
      id,
      source: source!.parsed,
      raw: source!.raw,
      version: newVersion,
      seqNo,
      docNo: index.docNo++,
      hash: fnv1a(id),
    })
    index.tombstones.delete(id)
    index.dirty = true
    return {
      _index: index.name,
      _id: id,
      _version: newVersion,
      result: current ? 'updated' : 'created',
      _shards: shards,
      _seq_no: seqNo,
      _primary_term: 1,
      status: current ? 200 : 201,
    }
  }

  private autoCreate(name: string): Index | undefined {
    let index = this.indices.get(name)
    if (!index && (this.options.autoCreateIndex ?? true)) {
      this.validateIndexName(name)
      index = new Index(name, undefined, undefined)
      this.indices.set(name, index)
    }
    return index
  }

  private bulk(req: Request, defaultIndex: string | undefined): [number, unknown, string?] {
    this.checkParams(req, ['refresh', 'routing', 'timeout', 'wait_for_active_shards', 'pipeline', 'require_alias', '_source', '_source_excludes', '_source_includes', 'type'])
    if (!req.body) throw new OsError(400, 'parse_exception', 'request body is required')
    const started = Date.now()
    const text = req.body.toString('utf8')
    if (!text.endsWith('\n')) throw new OsError(400, 'illegal_argument_exception', 'The bulk request must be terminated by a newline [\\n]')
    const lines = text.split('\n')
    lines.pop()
    interface Op {
      action: 'index' | 'create' | 'delete' | 'update'
      index: string | undefined
      id: string | undefined
      version: number | undefined
      versionType: string
      source?: string
      line: number
    }
    const ops: Op[] = []
    const validation: string[] = []
    for (let i = 0; i < lines.length; i++) {
      const lineNo = i + 1
      const line = lines[i]!.replace(/\r$/, '')
      if (line.trim() === '') continue
      let meta: unknown
      try {
        meta = JSON.parse(line)
      } catch (error) {
        throw new OsError(400, 'json_parse_exception', `Unexpected character in action/metadata line [${lineNo}]: ${(error as Error).message}`)
      }
      if (!meta || typeof meta !== 'object' || Array.isArray(meta)) {
        throw new OsError(
          400,
          'illegal_argument_exception',
          `Malformed action/metadata line [${lineNo}], expected START_OBJECT but found [${Array.isArray(meta) ? 'START_ARRAY' : 'VALUE_STRING'}]`,
        )
      }
      const keys = Object.keys(meta as Json)
      if (keys.length === 0) {
        throw new OsError(400, 'illegal_argument_exception', `Malformed action/metadata line [${lineNo}], expected FIELD_NAME but found [END_OBJECT]`)
      }
      const action = keys[0]!
      if (!['index', 'create', 'delete', 'update'].includes(action)) {
        throw new OsError(
          400,
          'illegal_argument_exception',
          `Malformed action/metadata line [${lineNo}], expected field [create], [delete], [index] or [update] but found [${action}]`,
        )
      }
      if (keys.length > 1) {
        throw new OsError(400, 'illegal_argument_exception', `Malformed action/metadata line [${lineNo}], expected END_OBJECT but found [FIELD_NAME]`)
      }
      const params = ((meta as Json)[action] ?? {}) as Json
      if (typeof params !== 'object' || Array.isArray(params)) {
        throw new OsError(400, 'illegal_argument_exception', `Malformed action/metadata line [${lineNo}], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]`)
      }
      const op: Op = { action: action as Op['action'], index: defaultIndex, id: undefined, version: undefined, versionType: 'internal', line: lineNo }
      for (const [k, v] of Object.entries(params)) {
        if (v !== null && typeof v === 'object' && k !== '_source') {
          throw new OsError(
            400,
            'illegal_argument_exception',
            `Malformed action/metadata line [${lineNo}], expected a simple value for field [${k}] but found [${Array.isArray(v) ? 'START_ARRAY' : 'START_OBJECT'}]`,
          )
        }
        switch (k) {
          case '_index':
            op.index = String(v)
            break
          case '_id':
            op.id = v === null ? undefined : String(v)
            break
          case 'version':
            if (typeof v !== 'number' && !(typeof v === 'string' && /^-?\d+$/.test(v))) {
              throw new OsError(400, 'illegal_argument_exception', `Malformed action/metadata line [${lineNo}], cannot parse [version] value [${String(v)}] as a long`)
            }
            op.version = Math.trunc(Number(v))
            break
          case 'version_type':
            if (!['internal', 'external', 'external_gt', 'external_gte'].includes(String(v))) {
              throw new OsError(400, 'illegal_argument_exception', `No version type match [${String(v)}]`)
            }
            op.versionType = String(v)
            break
          case 'routing':
          case 'op_type':
          case 'if_seq_no':
          case 'if_primary_term':
          case 'retry_on_conflict':
          case 'pipeline':
          case '_source':
          case 'require_alias':
            break
          default:
            throw new OsError(400, 'illegal_argument_exception', `Action/metadata line [${lineNo}] contains an unknown parameter [${k}]`)
        }
      }
      if (op.action !== 'delete') {
        i++
        if (i >= lines.length) break
        op.source = lines[i]!.replace(/\r$/, '')
      }
      // Request-level validation, as BulkRequest.validate() does it (every problem, numbered).
      if (!op.index) validation.push('index is missing')
      if (op.id !== undefined && op.id.length === 0) validation.push('if _id is specified it must not be empty')
      if (op.id !== undefined && Buffer.byteLength(op.id) > 512) {
        validation.push(`id [${op.id}] is too long, must be no longer than 512 bytes but was: ${Buffer.byteLength(op.id)}`)
      }
      if (op.action === 'delete' && op.id === undefined) validation.push('id is missing')
      if (op.action === 'update') validation.push('update actions are not supported by this test server')
      if (op.versionType !== 'internal') {
        if (op.version === undefined || op.version < 0) {
          validation.push(`illegal version value [${op.version ?? -3}] for version type [${op.versionType.toUpperCase()}]`)
        }
        if (op.action === 'create') validation.push(`create operations only support internal versioning. use index instead`)
      } else if (op.version !== undefined) {
        validation.push('internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead')
      }
      ops.push(op)
    }
    if (ops.length === 0) validation.push('no requests added')
    if (validation.length > 0) throw validationError(validation)

    const touched = new Set<Index>()
    const items: Json[] = []
    let errors = false
    for (const op of ops) {
      if (this.aliases.has(op.index!)) {
        try {
          op.index = this.writeIndexName(op.index!)
        } catch (error) {
          errors = true
          items.push({ [op.action]: { _index: op.index, _id: op.id ?? null, status: (error as OsError).status, error: (error as OsError).toCause() } })
          continue
        }
      }
      const key = `${op.index}\u0000${op.id ?? ''}`
      const attempt = (this.itemAttempts.get(key) ?? 0) + 1
      this.itemAttempts.set(key, attempt)
      const itemFault = this.faults.bulkItem?.({ action: op.action, index: op.index!, id: op.id, attempt })
      const base = { _index: op.index, _id: op.id ?? null }
      if (itemFault) {
        errors = true
        items.push({
          [op.action]: {
            ...base,
            status: itemFault,
            error:
              itemFault === 429
                ? { type: 'rejected_execution_exception', reason: rejectionReason('primary', op.index!) }
                : { type: 'unavailable_shards_exception', reason: `[${op.index}][0] primary shard is not active Timeout: [1m]` },
          },
        })
        continue
      }
      try {
        const index = op.action === 'delete' ? this.indices.get(op.index!) : this.autoCreate(op.index!)
        if (!index) throw indexNotFound(op.index!)
        let source: { parsed: Json; raw: string } | undefined
        if (op.action !== 'delete') {
          let parsed: unknown
          try {
            parsed = JSON.parse(op.source!)
          } catch (error) {
            throw new OsError(400, 'mapper_parsing_exception', 'failed to parse', {}, {
              type: 'json_parse_exception',
              reason: `Unexpected character: ${(error as Error).message}`,
            })
          }
          if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
            throw new OsError(400, 'mapper_parsing_exception', 'failed to parse', {}, {
              type: 'not_x_content_exception',
              reason: 'Compressor detection can only be called on some xcontent bytes or compressed xcontent bytes',
            })
          }
          source = { parsed: parsed as Json, raw: op.source!.trim() }
        }
        const id = op.id ?? randomBytes(15).toString('base64url')
        const result = this.write(index, op.action as 'index' | 'create' | 'delete', id, op.version, op.versionType, source)
        touched.add(index)
        items.push({ [op.action]: result })
      } catch (error) {
        if (!(error instanceof OsError)) throw error
        errors = true
        items.push({ [op.action]: { ...base, status: error.status, error: error.toCause() } })
      }
    }
    this.stats.bulkItemCounts.push(ops.length)
    this.applyRefreshParam(req, touched)
    return [200, { took: Date.now() - started, errors, items }]
  }

  private doc(req: Request, name: string, id: string): [number, unknown] {
    const { method } = req
    if (method === 'GET' || method === 'HEAD') {
      this.checkParams(req, ['_source', '_source_includes', '_source_excludes', 'preference', 'realtime', 'refresh', 'routing', 'stored_fields', 'version', 'version_type'])
      name = this.singleIndexName(name)
      const index = this.getIndexOrThrow(name)
      const doc = index.docs.get(id)
      if (!doc) return [404, { _index: name, _id: id, found: false }]
      return [200, { _index: name, _id: id, _version: doc.version, _seq_no: doc.seqNo, _primary_term: 1, found: true, _source: doc.source }]
    }
    if (method === 'PUT' || method === 'POST') {
      this.checkParams(req, ['version', 'version_type', 'op_type', 'refresh', 'routing', 'timeout', 'if_seq_no', 'if_primary_term', 'pipeline', 'require_alias', 'wait_for_active_shards'])
      const body = this.jsonBody(req, true)!
      name = this.writeIndexName(name)
      const index = this.autoCreate(name)
      if (!index) throw indexNotFound(name)
      const version = req.params.has('version') ? Number(req.params.get('version')) : undefined
      const versionType = req.params.get('version_type') ?? 'internal'
      const result = this.write(index, req.params.get('op_type') === 'create' ? 'create' : 'index', id, version, versionType, {
        parsed: body,
        raw: JSON.stringify(body),
      })
      this.applyRefreshParam(req, [index])
      const { status, ...rest } = result
      return [status as number, rest]
    }
    if (method === 'DELETE') {
      this.checkParams(req, ['version', 'version_type', 'refresh', 'routing', 'timeout', 'if_seq_no', 'if_primary_term', 'wait_for_active_shards'])
      const index = this.getIndexOrThrow(this.writeIndexName(name))
      const version = req.params.has('version') ? Number(req.params.get('version')) : undefined
      const result = this.write(index, 'delete', id, version, req.params.get('version_type') ?? 'internal')
      this.applyRefreshParam(req, [index])
      const { status, ...rest } = result
      return [status as number, rest]
    }
    return this.methodNotAllowed(req, ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'])
  }

  /**
   * `_mget` as MultiGetRequest parses, validates and answers it: `docs` (objects with `_index`,
   * `_id`, `routing`, `_source`, `stored_fields`, `version`, `version_type`) or `ids` (with the index
   * in the path); realtime by default (documents not yet refreshed are found); a missing index is
   * an error of each of its documents, not of the request.
   */
  private mget(req: Request, defaultIndex: string | undefined): [number, unknown] {
    this.checkParams(req, ['_source', '_source_excludes', '_source_includes', 'preference', 'realtime', 'refresh', 'routing', 'stored_fields'])
    const body = this.jsonBody(req, true)!
    interface Item {
      index: string | undefined
      id: string | undefined
      source: unknown
      version: number | undefined
    }
    const items: Item[] = []
    for (const [field, value] of Object.entries(body)) {
      if (!Array.isArray(value)) {
        throw new OsError(400, 'parse_exception', `unexpected token [${value !== null && typeof value === 'object' ? 'START_OBJECT' : 'VALUE_STRING'}], expected [START_ARRAY]`)
      }
      if (field === 'docs') {
        for (const doc of value) {
          if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new OsError(400, 'illegal_argument_exception', 'docs array element should include an object')
          const item: Item = { index: defaultIndex, id: undefined, source: undefined, version: undefined }
          for (const [k, v] of Object.entries(doc as Json)) {
            if (k === '_index') item.index = String(v)
            else if (k === '_id') item.id = v === null ? undefined : String(v)
            else if (k === '_source') item.source = v
            else if (k === 'version') item.version = Number(v)
            else if (k !== 'routing' && k !== 'stored_fields' && k !== 'version_type') {
              throw new OsError(400, 'parse_exception', `failed to parse multi get request. unknown field [${k}]`)
            }
          }
          items.push(item)
        }
      } else if (field === 'ids') {
        for (const id of value) {
          if (id === null || typeof id === 'object') throw new OsError(400, 'illegal_argument_exception', 'ids array element should only contain ids')
          items.push({ index: defaultIndex, id: String(id), source: undefined, version: undefined })
        }
      } else {
        throw new OsError(400, 'parse_exception', `unknown key [${field}] for a START_ARRAY, expected [docs] or [ids]`)
      }
    }
    const problems: string[] = []
    if (items.length === 0) problems.push('no documents to get')
    items.forEach((item, i) => {
      if (!item.index) problems.push(`index is missing for doc ${i}`)
      if (item.id === undefined || item.id === '') problems.push(`id is missing for doc ${i}`)
    })
    if (problems.length > 0) throw validationError(problems)

    const realtime = req.params.get('realtime') !== 'false'
    const refresh = req.params.get('refresh')
    const filterOf = (own: unknown): unknown => {
      if (own !== undefined) return own
      const includes = req.params.get('_source_includes')
      const excludes = req.params.get('_source_excludes')
      const source = req.params.get('_source')
      if (source === 'false') return false
      if (includes !== null || excludes !== null) {
        return { ...(includes !== null ? { includes: includes.split(',') } : {}), ...(excludes !== null ? { excludes: excludes.split(',') } : {}) }
      }
      return source === null || source === 'true' ? true : source.split(',')
    }
    const docs = items.map((item) => {
      const base = { _index: item.index, _id: item.id }
      let concrete: string
      try {
        concrete = this.singleIndexName(item.index!)
      } catch (error) {
        return { ...base, error: (error as OsError).toCause() }
      }
      const index = this.indices.get(concrete)
      if (!index) return { ...base, error: osErrorBody(indexNotFound(item.index!)).error }
      if (refresh === '' || refresh === 'true') index.refresh()
      const doc = realtime ? index.docs.get(item.id!) : index.snapshot.docs.find((d) => d.id === item.id)
      if (!doc) return { ...base, found: false }
      if (item.version !== undefined && item.version !== doc.version) {
        const conflict = new OsError(409, 'version_conflict_engine_exception', `[${item.id}]: version conflict, current version [${doc.version}] is different than the one provided [${item.version}]`, {
          index: index.name,
          shard: '0',
          index_uuid: index.uuid,
        })
        return { ...base, error: osErrorBody(conflict).error }
      }
      const filter = filterOf(item.source)
      const source = filter === false || filter === 'false' ? undefined : filter === true || filter === 'true' ? doc.source : filterSource(doc.source, filter)
      return { ...base, _version: doc.version, _seq_no: doc.seqNo, _primary_term: 1, found: true, ...(source !== undefined ? { _source: source } : {}) }
    })
    return [200, { docs }]
  }

  // ---------------------------------------------------------------- point in time

  private createPit(req: Request, expression: string): [number, unknown] {
    this.checkParams(req, ['keep_alive', 'preference', 'routing', 'expand_wildcards', 'allow_partial_pit_creation'])
    if (!req.params.has('keep_alive')) throw validationError(['keep alive not specified'])
    const keepAliveMs = this.checkKeepAlive(req.params.get('keep_alive'))
    this.expirePits()
    const max = this.options.maxOpenPits ?? 300
    if (this.pits.size >= max) {
      throw new OsError(
        400,
        'illegal_argument_exception',
        `Trying to create too many Point In Time contexts. Must be less than or equal to: [${max}]. This limit can be set by changing the [search.max_open_pit_context] setting.`,
      )
    }
    const indices = this.resolveIndices(expression)
    const id = randomBytes(48).toString('base64')
    const now = Date.now()
    this.pits.set(id, {
      id,
      snapshots: indices.map((i) => i.snapshot),
      keepAliveMs,
      expiresAt: now + keepAliveMs,
      searches: 0,
      created: now,
      contextId: ++this.contextIds,
    })
    this.stats.pitsCreated++
    return [200, { pit_id: id, _shards: { total: indices.length, successful: indices.length, skipped: 0, failed: 0 }, creation_time: now }]
  }

  private checkKeepAlive(value: string | null | unknown): number {
    const ms = timeValueMs(value, 'keep_alive')
    const max = this.options.maxKeepAliveMs ?? 86_400_000
    if (ms > max) {
      throw new OsError(
        400,
        'illegal_argument_exception',
        `Keep alive for request (${String(value)}) is too large. It must be less than (${formatTime(max)}). This limit can be set by changing the [search.max_keep_alive] cluster level setting.`,
      )
    }
    return ms
  }

  private pitIds(body: Json | undefined): string[] {
    const raw = body?.pit_id
    const ids = raw === undefined ? [] : Array.isArray(raw) ? raw.map(String) : [String(raw)]
    if (ids.length === 0) throw validationError(['no pit ids specified'])
    return ids
  }

  private deletePits(req: Request): [number, unknown] {
    this.checkParams(req, [])
    const ids = this.pitIds(this.jsonBody(req, true))
    this.expirePits()
    const pits = ids.map((id) => {
      const existed = this.pits.delete(id)
      if (existed) this.stats.pitsDeleted++
      return { successful: existed, pit_id: id }
    })
    return [pits.some((p) => p.successful) ? 200 : 404, { pits }]
  }

  private deleteAllPits(req: Request): [number, unknown] {
    this.checkParams(req, [])
    this.expirePits()
    const pits = [...this.pits.keys()].map((id) => ({ successful: true, pit_id: id }))
    this.stats.pitsDeleted += pits.length
    this.pits.clear()
    return [200, { pits }]
  }

  private listPits(req: Request): [number, unknown] {
    this.checkParams(req, [])
    this.expirePits()
    return [200, { pits: [...this.pits.values()].map((p) => ({ pit_id: p.id, creation_time: p.created, keep_alive: p.keepAliveMs })) }]
  }

  // ---------------------------------------------------------------- search

  private count(req: Request, expression: string | undefined): [number, unknown] {
    this.checkParams(req, ['allow_no_indices', 'analyzer', 'default_operator', 'df', 'expand_wildcards', 'ignore_unavailable', 'min_score', 'preference', 'q', 'routing', 'terminate_after'])
    const body = this.jsonBody(req) ?? {}
    for (const k of Object.keys(body)) {
      if (k !== 'query') throw new OsError(400, 'parsing_exception', `request does not support [${k}]`, { line: 1, col: 2 })
    }
    let count = 0
    const indices = this.resolveIndices(expression)
    for (const index of indices) {
      const match = compileQuery(index, body.query)
      for (const doc of index.snapshot.docs) if (match(doc)) count++
    }
    return [200, { count, _shards: { total: indices.length, successful: indices.length, skipped: 0, failed: 0 } }]
  }

  private search(req: Request, expression: string | undefined): [number, unknown, string] {
    this.checkParams(req, [
      'allow_no_indices', 'allow_partial_search_results', 'batched_reduce_size', 'ccs_minimize_roundtrips', 'expand_wildcards',
      'ignore_unavailable', 'max_concurrent_shard_requests', 'pre_filter_shard_size', 'preference', 'q', 'request_cache',
      'rest_total_hits_as_int', 'routing', 'scroll', 'search_type', 'seq_no_primary_term', 'size', 'from', 'sort', 'timeout',
      'track_scores', 'track_total_hits', 'typed_keys', 'version', '_source', '_source_excludes', '_source_includes', 'search_pipeline',
    ])
    const started = Date.now()
    const body = this.jsonBody(req) ?? {}
    const known = ['query', 'sort', 'search_after', 'size', 'from', '_source', 'slice', 'pit', 'track_total_hits', 'version', 'seq_no_primary_term', 'timeout', 'explain']
    for (const k of Object.keys(body)) {
      if (!known.includes(k)) throw new OsError(400, 'parsing_exception', `Unknown key for a START_OBJECT in [${k}].`, { line: 1, col: 1 })
    }
    const pitRef = body.pit as Json | undefined
    let snapshots: readonly Snapshot[]
    let pit: Pit | undefined
    if (pitRef !== undefined) {
      if (!pitRef || typeof pitRef !== 'object' || Array.isArray(pitRef)) {
        throw new OsError(400, 'parsing_exception', 'Unknown key for a VALUE_STRING in [pit].', { line: 1, col: 1 })
      }
      for (const k of Object.keys(pitRef)) {
        if (k !== 'id' && k !== 'keep_alive') throw new OsError(400, 'x_content_parse_exception', `[1:9] [pit] unknown field [${k}]`)
      }
      const problems: string[] = []
      if (expression !== undefined) problems.push('[indices] cannot be used with point in time')
      if (req.params.has('routing')) problems.push('[routing] cannot be used with point in time')
      if (req.params.has('preference')) problems.push('[preference] cannot be used with point in time')
      if (req.params.has('scroll')) problems.push('using [point in time] is not allowed in a scroll context')
      if (problems.length > 0) throw validationError(problems)
      this.expirePits()
      const id = String(pitRef.id ?? '')
      pit = this.pits.get(id)
      if (!pit) {
        throw new SearchPhaseError(404, { type: 'search_context_missing_exception', reason: `No search context found for id [${this.contextIds + 1}]` }, { shard: -1, index: null })
      }
      if (this.faults.pitSearchLimit !== undefined && pit.searches >= this.faults.pitSearchLimit) {
        this.pits.delete(id)
        throw new SearchPhaseError(404, { type: 'search_context_missing_exception', reason: `No search context found for id [${pit.contextId}]` }, { shard: -1, index: null })
      }
      pit.searches++
      if (pitRef.keep_alive !== undefined) {
        pit.keepAliveMs = this.checkKeepAlive(pitRef.keep_alive)
        pit.expiresAt = Date.now() + pit.keepAliveMs
      }
      snapshots = pit.snapshots
    } else {
      snapshots = this.resolveIndices(expression).map((i) => i.snapshot)
    }
    this.stats.searches++

    const size = body.size !== undefined ? Number(body.size) : req.params.has('size') ? Number(req.params.get('size')) : 10
    const from = body.from !== undefined ? Number(body.from) : req.params.has('from') ? Number(req.params.get('from')) : 0
    if (!Number.isInteger(size) || size < 0) throw new OsError(400, 'illegal_argument_exception', `[size] parameter cannot be negative, found [${String(body.size)}]`)
    if (!Number.isInteger(from) || from < 0) throw new OsError(400, 'illegal_argument_exception', `[from] parameter cannot be negative, found [${String(body.from)}]`)
    if (body.search_after !== undefined && from > 0) throw validationError(['[from] parameter must be set to 0 when [search_after] is used'])
    const sortRaw = parseSort(body.sort)
    const slice = body.slice as Json | undefined
    if (slice !== undefined) {
      const id = Number(slice.id)
      const max = Number(slice.max)
      if (!Number.isInteger(max) || max <= 1) throw new OsError(400, 'illegal_argument_exception', 'max must be greater than 1')
      if (!Number.isInteger(id) || id < 0) throw new OsError(400, 'illegal_argument_exception', 'id must be greater than or equal to 0')
      if (id >= max) throw new OsError(400, 'illegal_argument_exception', 'max must be greater than id')
      if (pit === undefined && !req.params.has('scroll')) {
        throw validationError(['[slice] can only be used with [scroll] or [point-in-time] requests'])
      }
    }
    const trackTotal = body.track_total_hits ?? req.params.get('track_total_hits') ?? 10_000
    const sourceFilter = body._source

    // Merge hits of every index; sorted with cached per-snapshot orders.
    type Hit = { doc: Doc; values: SortValue[]; snapshot: Snapshot }
    const all: Hit[] = []
    let specs: SortSpec[] = []
    let total = 0
    for (const snapshot of snapshots) {
      specs = resolveSort(snapshot, sortRaw, this.options.idFieldData ?? true)
      if (from + size > 10_000) {
        throw shardFailure(snapshot.index, 400, {
          type: 'illegal_argument_exception',
          reason: `Result window is too large, from + size must be less than or equal to: [10000] but was [${from + size}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.`,
        })
      }
      const after = body.search_after !== undefined ? parseSearchAfter(body.search_after, specs, snapshot.index) : undefined
      const sorted = this.sortedHits(snapshot, specs, body.query, slice)
      total += sorted.entries.length
      let start = 0
      if (after) {
        // First entry strictly after `after`.
        let lo = 0
        let hi = sorted.entries.length
        while (lo < hi) {
          const mid = (lo + hi) >>> 1
          if (compareTuples(sorted.entries[mid]!.values, after, specs) <= 0) lo = mid + 1
          else hi = mid
        }
        start = lo
      }
      const end = Math.min(sorted.entries.length, start + from + size)
      for (let i = start; i < end; i++) all.push({ ...sorted.entries[i]!, snapshot })
    }
    if (snapshots.length > 1) {
      all.sort((a, b) => compareTuples(a.values, b.values, specs) || a.doc.hash - b.doc.hash || compareScalar(a.doc.id, b.doc.id))
    }
    let page = all.slice(from, from + size)
    const partial = this.faults.searchShardFailure?.()
    let shardsJson = `"_shards":{"total":${snapshots.length},"successful":${snapshots.length},"skipped":0,"failed":0},`
    if (partial) {
      // The failed shard's half of the hits is missing from the answer.
      page = page.filter((_, i) => i % 2 === 0)
      const reason =
        partial === 'search_context_missing_exception' ? `No search context found for id [${this.contextIds}]` : '[hydrator-node-2] node disconnected'
      shardsJson =
        `"_shards":{"total":2,"successful":1,"skipped":0,"failed":1,"failures":[{"shard":1,"index":${JSON.stringify(snapshots[0]?.index.name ?? null)},` +
        `"node":"hydrator-node-2","reason":{"type":"${partial}","reason":${JSON.stringify(reason)}}}]},`
    }

    const parts: string[] = []
    const sorted = specs.length > 0
    for (const hit of page) {
      let src: string
      if (sourceFilter === false) src = ''
      else if (sourceFilter === undefined || sourceFilter === true) src = hit.doc.raw
      else src = JSON.stringify(filterSource(hit.doc.source, sourceFilter))
      const sortJson = sorted ? `,"sort":${stringifySortValues(hit.values.map((v, i) => displaySortValue(v, specs[i]!)))}` : ''
      parts.push(
        `{"_index":${JSON.stringify(hit.snapshot.index.name)},"_id":${JSON.stringify(hit.doc.id)},"_score":${sorted ? 'null' : '1.0'}${
          body.version ? `,"_version":${hit.doc.version}` : ''
        }${src ? `,"_source":${src}` : ''}${sortJson}}`,
      )
    }
    let totalJson: string
    if (trackTotal === false || trackTotal === 'false') totalJson = ''
    else {
      const limit = trackTotal === true || trackTotal === 'true' ? Infinity : Number(trackTotal)
      const value = Math.min(total, limit)
      totalJson =
        req.params.get('rest_total_hits_as_int') === 'true'
          ? `"total":${total},`
          : `"total":{"value":${value},"relation":"${total > limit ? 'gte' : 'eq'}"},`
    }
    const raw =
      `{${pit ? `"pit_id":${JSON.stringify(pit.id)},` : ''}"took":${Date.now() - started},"timed_out":false,` +
      shardsJson +
      `"hits":{${totalJson}"max_score":${sorted || page.length === 0 ? 'null' : '1.0'},"hits":[${parts.join(',')}]}}`
    return [200, undefined, raw]
  }

  private sortedHits(snapshot: Snapshot, specs: SortSpec[], query: unknown, slice: Json | undefined): SortedHits {
    const key = JSON.stringify([specs.map((s) => [s.field, s.desc, s.missingFirst]), query ?? null, slice ? [slice.id, slice.max] : null])
    const cached = snapshot.cache.get(key)
    if (cached) return cached
    const match = compileQuery(snapshot.index, query)
    const sliceId = slice ? Number(slice.id) : 0
    const sliceMax = slice ? Number(slice.max) : 1
    const entries: { doc: Doc; values: SortValue[] }[] = []
    for (const doc of snapshot.docs) {
      if (sliceMax > 1 && (fnv1a(`slice:${doc.id}`) % sliceMax) !== sliceId) continue
      if (!match(doc)) continue
      entries.push({ doc, values: specs.map((s) => sortValueOf(doc, s)) })
    }
    // Ties are broken by a hash of the id, never by arrival order (Lucene's doc order is not insertion order).
    entries.sort((a, b) => compareTuples(a.values, b.values, specs) || a.doc.hash - b.doc.hash || compareScalar(a.doc.id, b.doc.id))
    const result = { entries }
    if (snapshot.cache.size >= 16) snapshot.cache.delete(snapshot.cache.keys().next().value!)
    snapshot.cache.set(key, result)
    return result
  }
}

function filterSource(source: Json, filter: unknown): Json {
  const includes = Array.isArray(filter)
    ? filter.map(String)
    : typeof filter === 'string'
      ? [filter]
      : Array.isArray((filter as Json)?.includes)
        ? ((filter as Json).includes as unknown[]).map(String)
        : undefined
  const excludes = Array.isArray((filter as Json)?.excludes) ? ((filter as Json).excludes as unknown[]).map(String) : []
  const out: Json = {}
  for (const [k, v] of Object.entries(source)) {
    if (includes && !includes.some((p) => p === k || p.startsWith(`${k}.`) || (p.endsWith('*') && k.startsWith(p.slice(0, -1))))) continue
    if (excludes.includes(k)) continue
    out[k] = v
  }
  return out
}

function stringifySortValues(values: SortValue[]): string {
  return `[${values.map((v) => (typeof v === 'bigint' ? v.toString() : JSON.stringify(v))).join(',')}]`
}

function formatTime(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}

function rejectionReason(kind: 'coordinating' | 'primary', index = 'events'): string {
  return (
    `rejected execution of ${kind} operation [shard_detail=[${index}][0][${kind === 'primary' ? 'P' : 'C'}], ` +
    'shard_coordinating_and_primary_bytes=0, shard_operation_bytes=1024, shard_max_coordinating_and_primary_bytes=0] OR ' +
    '[node_coordinating_and_primary_bytes=53687091, node_replica_bytes=0, node_all_bytes=53687091, node_operation_bytes=1024, ' +
    'node_max_coordinating_and_primary_bytes=53687091]'
  )
}
