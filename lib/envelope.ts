import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { HydratorError } from './errors.js'
import { compilePath, type PathGetter } from './util/json-path.js'

/**
 * The EventBridge envelope: what a function behind an EventBridge rule receives, and what the
 * Lambda and EventBridge sinks send. Events already in this shape pass through unchanged; other
 * shapes are mapped with an {@link EnvelopeMapping} or a transform function.
 */
export interface EventBridgeEvent {
  version: string
  id: string
  'detail-type': string
  source: string
  account: string
  time: string
  region: string
  resources: string[]
  detail: unknown
  /** Set by EventBridge on events sent again from an archive; the sinks set it for hydration. */
  'replay-name'?: string
}

/**
 * Where one envelope field comes from: a JSON path into the stored event (`Data.orderId`), a
 * constant (`{ value: 'orders.service' }`), or a path with a fallback (`{ path: 'Region', default: 'eu-west-1' }`).
 */
export type EnvelopeField = string | { readonly path: string; readonly default?: unknown } | { readonly value: unknown }

/**
 * A declarative mapping from a stored event to the EventBridge envelope.
 *
 * - `detail-type`, `source` and `time` are required.
 * - `detail` defaults to the whole stored event; a JSON string holding an object is parsed.
 * - `id` defaults to a UUID-shaped SHA-256 of the stored event, the same on every run, so handlers
 *   that deduplicate on `id` see the same id when a run is repeated.
 * - `time` may be an ISO 8601 string (kept as it is) or epoch seconds/milliseconds (made ISO).
 * - `account` defaults to `000000000000`, `region` to the sink's region, `version` to `0`,
 *   `resources` to `[]`.
 *
 * @example
 * { id: 'ID', time: 'Timestamp', 'detail-type': 'EventType', source: { value: 'orders' }, detail: 'Data' }
 */
export interface EnvelopeMapping {
  readonly id?: EnvelopeField
  readonly 'detail-type': EnvelopeField
  readonly source: EnvelopeField
  readonly time: EnvelopeField
  readonly detail?: EnvelopeField
  readonly resources?: EnvelopeField
  readonly account?: EnvelopeField
  readonly region?: EnvelopeField
  readonly version?: EnvelopeField
}

/** A mapping, or a transform returning the payload to send (a thrown error fails that event). */
export type Envelope = EnvelopeMapping | ((event: unknown) => unknown)

/** Values an envelope falls back on when the mapping does not give them. */
export interface EnvelopeDefaults {
  /** @default '000000000000' */
  readonly account?: string
  /** @default 'us-east-1' */
  readonly region?: string
}

const FIELDS = ['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail'] as const
type Field = (typeof FIELDS)[number]
const REQUIRED: readonly Field[] = ['detail-type', 'source', 'time']

/** True for a value that already has the EventBridge shape (`detail-type`, `source` and `detail`). */
export function isEventBridgeEvent(value: unknown): value is EventBridgeEvent {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false
  const v = value as Record<string, unknown>
  return typeof v['detail-type'] === 'string' && typeof v.source === 'string' && 'detail' in v
}

type FieldGetter = (event: unknown) => unknown

function compileField(name: Field, spec: EnvelopeField): FieldGetter {
  if (typeof spec === 'string') return compilePath(spec)
  if (spec && typeof spec === 'object' && !Array.isArray(spec)) {
    if ('value' in spec) {
      const value = spec.value
      return () => value
    }
    if ('path' in spec && typeof spec.path === 'string') {
      const get: PathGetter = compilePath(spec.path)
      const fallback = spec.default
      return (event) => {
        const v = get(event)
        return v === undefined || v === null ? fallback : v
      }
    }
  }
  throw new HydratorError(
    'ERR_INVALID_OPTION',
    `envelope field \`${name}\`: expected a JSON path, \`{ "value": ... }\` or \`{ "path": ..., "default": ... }\`, got \`${JSON.stringify(spec)}\``,
  )
}

/** Validates an envelope mapping when the sink is made, naming the bad field. */
export function validateEnvelope(mapping: unknown): EnvelopeMapping {
  if (!mapping || typeof mapping !== 'object' || Array.isArray(mapping)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`envelope\` to be an object mapping envelope fields, got \`${JSON.stringify(mapping)}\``)
  }
  for (const key of Object.keys(mapping)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      throw new HydratorError('ERR_INVALID_OPTION', `unknown envelope field \`${key}\`; known fields: ${FIELDS.join(', ')}`)
    }
  }
  for (const key of REQUIRED) {
    if ((mapping as Record<string, unknown>)[key] === undefined) {
      throw new HydratorError(
        'ERR_INVALID_OPTION',
        `an envelope mapping needs \`${key}\` (a JSON path into your events, or \`{ "value": ... }\`); it needs ${REQUIRED.join(', ')}`,
      )
    }
  }
  return mapping as EnvelopeMapping
}

function mappingError(field: string, message: string): HydratorError {
  return new HydratorError('ERR_MAPPING', `envelope field \`${field}\`: ${message}`)
}

function asText(field: string, value: unknown): string {
  if (typeof value === 'string' && value !== '') return value
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  if (value === undefined || value === null || value === '') throw mappingError(field, 'missing in this event')
  throw mappingError(field, `expected a string, got ${Array.isArray(value) ? 'an array' : typeof value}`)
}

/** An ISO 8601 time from a string (kept), a Date, or epoch seconds / milliseconds. */
export function asTime(value: unknown, field = 'time'): string {
  if (typeof value === 'string' && value !== '') {
    if (Number.isNaN(Date.parse(value))) {
      if (/^\d+(\.\d+)?$/.test(value)) return asTime(Number(value), field)
      throw mappingError(field, `\`${value.slice(0, 40)}\` is not a date`)
    }
    return value
  }
  if (value instanceof Date && !Number.isNaN(value.getTime())) return isoSeconds(value)
  if (typeof value === 'number' && Number.isFinite(value)) {
    // Below 1e11 it is seconds (until the year 5138), above it milliseconds.
    return isoSeconds(new Date(value < 1e11 ? value * 1000 : value))
  }
  if (value === undefined || value === null || value === '') throw mappingError(field, 'missing in this event')
  throw mappingError(field, `expected an ISO 8601 string or epoch seconds/milliseconds, got ${typeof value}`)
}

function isoSeconds(date: Date): string {
  // EventBridge writes times without milliseconds; keep them only when there are some.
  return date.toISOString().replace('.000Z', 'Z')
}

/** A stable UUID-shaped id from the content of an event: the same event gives the same id. */
export function contentId(event: unknown): string {
  const hex = createHash('sha256').update(JSON.stringify(event) ?? '').digest('hex')
  // Version 5 (name-based) and RFC 4122 variant bits, so it looks like any other UUID.
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

function asDetail(value: unknown): unknown {
  if (typeof value === 'string') {
    const trimmed = value.trimStart()
    if (trimmed.startsWith('{')) {
      try {
        return JSON.parse(value)
      } catch {
        // not JSON after all: keep the string
      }
    }
  }
  return value === undefined ? {} : value
}

function asResources(value: unknown): string[] {
  if (value === undefined || value === null) return []
  if (Array.isArray(value)) return value.filter((v) => v !== undefined && v !== null).map(String)
  return [String(value)]
}

/**
 * Compiles an envelope once: returns a function that turns a stored event into the EventBridge
 * payload. Events already in EventBridge shape pass through unchanged (unless `envelope` is a
 * function, which always decides). Without an envelope, other events throw ERR_MAPPING. A mapped
 * field that is missing throws ERR_MAPPING naming the field; a transform's error is ERR_TRANSFORM.
 *
 * @example
 * const toPayload = compileEnvelope({ id: 'ID', time: 'Timestamp', 'detail-type': 'EventType', source: { value: 'orders' }, detail: 'Data' })
 * toPayload({ ID: '1', Timestamp: 1700000000, EventType: 'OrderPlaced', Data: '{"total":3}' })
 */
export function compileEnvelope(envelope: Envelope | undefined, defaults: EnvelopeDefaults = {}): (event: unknown) => unknown {
  if (typeof envelope === 'function') {
    return (event) => {
      let out: unknown
      try {
        out = envelope(event)
      } catch (error) {
        throw new HydratorError('ERR_TRANSFORM', `envelope transform: ${(error as Error)?.message ?? String(error)}`, { cause: error })
      }
      if (!out || typeof out !== 'object' || Array.isArray(out)) {
        throw new HydratorError('ERR_TRANSFORM', `envelope transform: expected an object, got ${Array.isArray(out) ? 'an array' : typeof out}`)
      }
      return out
    }
  }
  if (envelope === undefined) {
    return (event) => {
      if (isEventBridgeEvent(event)) return event
      throw new HydratorError(
        'ERR_MAPPING',
        'event is not in EventBridge shape (`detail-type`, `source`, `detail`); give an envelope mapping (`--envelope`) for this event shape',
      )
    }
  }
  const mapping = validateEnvelope(envelope)
  const getters = new Map<Field, FieldGetter>()
  for (const field of FIELDS) {
    const spec = mapping[field]
    if (spec !== undefined) getters.set(field, compileField(field, spec))
  }
  const account = defaults.account ?? '000000000000'
  const region = defaults.region ?? 'us-east-1'
  const get = (field: Field, event: unknown) => getters.get(field)?.(event)

  return (event) => {
    if (isEventBridgeEvent(event)) return event
    if (!event || typeof event !== 'object') throw new HydratorError('ERR_MAPPING', `expected an object event, got ${typeof event}`)
    const id = get('id', event)
    const out: EventBridgeEvent = {
      version: getters.has('version') ? asText('version', get('version', event)) : '0',
      id: id === undefined || id === null || id === '' ? contentId(event) : asText('id', id),
      'detail-type': asText('detail-type', get('detail-type', event)),
      source: asText('source', get('source', event)),
      account: getters.has('account') ? asText('account', get('account', event) ?? account) : account,
      time: asTime(get('time', event)),
      region: getters.has('region') ? asText('region', get('region', event) ?? region) : region,
      resources: asResources(get('resources', event)),
      detail: getters.has('detail') ? asDetail(get('detail', event)) : event,
    }
    return out
  }
}

/** The payload with EventBridge's `replay-name` field set, as a new object. */
export function withReplayName(payload: unknown, replayName: string | undefined): unknown {
  if (!replayName || !payload || typeof payload !== 'object' || Array.isArray(payload)) return payload
  return { ...(payload as Record<string, unknown>), 'replay-name': replayName }
}

/**
 * Reads an envelope from a CLI flag or config value: an object, JSON text, or the path of a JSON
 * file (relative to `cwd`). Throws ERR_INVALID_OPTION naming what could not be read.
 *
 * @example
 * parseEnvelopeOption('{"detail-type":"EventType","source":{"value":"orders"},"time":"Timestamp"}', process.cwd())
 */
export function parseEnvelopeOption(value: unknown, cwd: string): EnvelopeMapping | undefined {
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value === 'object') return validateEnvelope(value)
  if (typeof value !== 'string') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`--envelope\` to be JSON or a JSON file, got \`${String(value)}\``)
  }
  const text = value.trim()
  let json: string
  if (text.startsWith('{')) {
    json = text
  } else {
    const file = path.resolve(cwd, text.replace(/^@/, ''))
    try {
      json = readFileSync(file, 'utf8').replace(/^\uFEFF/, '')
    } catch (error) {
      throw new HydratorError('ERR_FILE_NOT_FOUND', `cannot read the envelope file \`${text}\`: ${(error as Error).message}`, { cause: error })
    }
  }
  try {
    return validateEnvelope(JSON.parse(json))
  } catch (error) {
    if (error instanceof HydratorError) throw error
    throw new HydratorError('ERR_INVALID_OPTION', `\`--envelope\` is not valid JSON: ${(error as Error).message}`, { cause: error })
  }
}

/** The `replay-name` the CLI puts on hydration events unless told otherwise (`--replay-name ''`). */
export const DEFAULT_REPLAY_NAME = 'event-hydrator'

/**
 * The replay name from `--replay-name`: the default when not given, none for `''` or
 * `--no-replay-name`.
 */
export function replayNameFlag(flags: Readonly<Record<string, unknown>>): string | undefined {
  const value = flags.replayName ?? flags['replay-name']
  if (value === undefined || value === null || value === true) return DEFAULT_REPLAY_NAME
  if (value === false || value === '') return undefined
  if (typeof value !== 'string') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`--replay-name\` to be a name, got \`${String(value)}\``)
  }
  return value
}
