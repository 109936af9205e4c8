import { HydratorError } from './errors.js'
import { looksLikeWindowsPath, queryStart } from './util/local-path.js'
import type { Mapping } from './mapping.js'
import type { Position, Sink, Source } from './types.js'
import type { RetryPolicy } from './retry.js'
import type { CheckpointStore } from './checkpoint/store.js'
import type { Share } from './share.js'

/** A URI taken apart: `dynamo:events?index=byPage` -> scheme `dynamo`, path `events`, params. */
export interface ParsedUri {
  /** The URI as given. */
  readonly uri: string
  /** Lower-case scheme without the colon: `json`, `postgres`, `dynamo`. */
  readonly scheme: string
  /** Everything after `scheme:`, query included. */
  readonly rest: string
  /** `rest` without the query string. */
  readonly path: string
  /** The query string's parameters. */
  readonly params: URLSearchParams
}

/** What the CLI (or a config file) knows besides the URI; factories take what they need. */
export interface FactoryContext {
  /** The process environment (only the CLI reads it; the library never does on its own). */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Working directory for relative paths. */
  readonly cwd: string
  /** What `-` reads (`json:-`) and writes (`ndjson:-`). @default process.stdin / process.stdout */
  readonly stdin?: import('node:stream').Readable
  readonly stdout?: import('node:stream').Writable
  /** Storage mapping from --column/--key/--version-column/--delete-when (sinks). */
  readonly mapping?: Mapping
  /** --table (the URI's ?table= wins). */
  readonly table?: string
  /** --batch-size. */
  readonly batchSize?: number
  /** --concurrency. */
  readonly concurrency?: number
  /** --order-key: a JSON path; events with the same value stay in order. */
  readonly orderKey?: string
  /** --rate, events per second. */
  readonly ratePerSecond?: number
  /** Retry policy from --retry-* flags. */
  readonly retry?: RetryPolicy
  /** Resume just after this position (from a checkpoint); sources that cannot resume ignore it. */
  readonly resume?: Position
  /** The sink state a checkpoint recorded, for sinks that resume exactly. */
  readonly resumeSink?: unknown
  /**
   * Builds another source from its URI with this run's environment, without `resume`, `resumeSink`
   * or `share` (`s3://bucket/?keys=<uri>` reads its keys from one).
   */
  readonly createSource?: (uri: string) => Promise<Source>
  /** The share of a split run this source reads (its `part` was planned by the same plugin). */
  readonly share?: Share
  /** Every other flag as parsed, for plugins with flags of their own. */
  readonly flags: Readonly<Record<string, unknown>>
  /** Cleanup to run when the run ends (close clients, pools). */
  readonly onClose: (fn: () => Promise<void> | void) => void
}

export type SourceFactory = (uri: ParsedUri, context: FactoryContext) => Source | Promise<Source>
export type SinkFactory = (uri: ParsedUri, context: FactoryContext) => Sink | Promise<Sink>
/** Makes a checkpoint store from its URI (`dynamo:table/run-id`). */
export type CheckpointStoreFactory = (uri: ParsedUri, context: FactoryContext) => CheckpointStore | Promise<CheckpointStore>
/**
 * Splits a source into `count` parts that together read every event once, each key's events in
 * one part; each part is JSON (it travels through a Step Functions map or a shell loop).
 */
export type SharePlanner = (uri: ParsedUri, count: number, context: FactoryContext) => Promise<readonly Readonly<Record<string, unknown>>[]>

/**
 * A plugin: URI schemes mapped to factories. The built-ins register through the same registry.
 *
 * @example
 * export default { name: 'memory', sinks: { memory: () => collect() } } satisfies Plugin
 */
export interface Plugin {
  readonly name: string
  readonly sources?: Readonly<Record<string, SourceFactory>>
  readonly sinks?: Readonly<Record<string, SinkFactory>>
  /** Checkpoint stores by scheme (`--checkpoint dynamo:table/run-id`). */
  readonly checkpoints?: Readonly<Record<string, CheckpointStoreFactory>>
  /** Share planners by source scheme (`hydrate plan --shares N`). */
  readonly shares?: Readonly<Record<string, SharePlanner>>
}

/** Maps URI schemes to source and sink factories. */
export class Registry {
  readonly #sources = new Map<string, { plugin: string; factory: SourceFactory }>()
  readonly #sinks = new Map<string, { plugin: string; factory: SinkFactory }>()
  readonly #checkpoints = new Map<string, { plugin: string; factory: CheckpointStoreFactory }>()
  readonly #shares = new Map<string, { plugin: string; factory: SharePlanner }>()

  /** Adds a plugin's schemes; a later plugin may override a scheme (the last one wins). */
  register(plugin: Plugin): this {
    if (!plugin || typeof plugin !== 'object' || typeof plugin.name !== 'string') {
      throw new HydratorError('ERR_PLUGIN', 'a plugin must be an object with a `name` and `sources` and/or `sinks`')
    }
    for (const [scheme, factory] of Object.entries(plugin.sources ?? {})) {
      if (typeof factory !== 'function') throw new HydratorError('ERR_PLUGIN', `plugin ${plugin.name}: source \`${scheme}\` is not a function`)
      this.#sources.set(scheme.toLowerCase(), { plugin: plugin.name, factory })
    }
    for (const [scheme, factory] of Object.entries(plugin.sinks ?? {})) {
      if (typeof factory !== 'function') throw new HydratorError('ERR_PLUGIN', `plugin ${plugin.name}: sink \`${scheme}\` is not a function`)
      this.#sinks.set(scheme.toLowerCase(), { plugin: plugin.name, factory })
    }
    for (const [kind, map, entries] of [
      ['checkpoint store', this.#checkpoints, plugin.checkpoints],
      ['share planner', this.#shares, plugin.shares],
    ] as const) {
      for (const [scheme, factory] of Object.entries(entries ?? {})) {
        if (typeof factory !== 'function') throw new HydratorError('ERR_PLUGIN', `plugin ${plugin.name}: ${kind} \`${scheme}\` is not a function`)
        ;(map as Map<string, { plugin: string; factory: unknown }>).set(scheme.toLowerCase(), { plugin: plugin.name, factory })
      }
    }
    return this
  }

  sourceSchemes(): string[] {
    return [...this.#sources.keys()].sort()
  }

  sinkSchemes(): string[] {
    return [...this.#sinks.keys()].sort()
  }

  checkpointSchemes(): string[] {
    return [...this.#checkpoints.keys()].sort()
  }

  /** True when `scheme` names a checkpoint store (else a checkpoint is a local file path). */
  hasCheckpointStore(scheme: string): boolean {
    return this.#checkpoints.has(scheme.toLowerCase())
  }

  async createCheckpointStore(uri: string, context: FactoryContext): Promise<CheckpointStore> {
    const parsed = parseUri(uri)
    const entry = this.#checkpoints.get(parsed.scheme)
    if (!entry) throw unknownScheme('checkpoint store', parsed.scheme, uri, this.checkpointSchemes())
    return entry.factory(parsed, context)
  }

  /** The parts of a source split `count` ways; ERR_SHARES_UNSUPPORTED for a source that cannot split. */
  async planShares(uri: string, count: number, context: FactoryContext): Promise<readonly Readonly<Record<string, unknown>>[]> {
    const parsed = parseUri(uri)
    const entry = this.#shares.get(parsed.scheme)
    if (!entry) {
      throw new HydratorError(
        'ERR_SHARES_UNSUPPORTED',
        `\`${parsed.scheme}:\` sources cannot be split into shares; these can: ${[...this.#shares.keys()].sort().map((s) => `${s}:`).join(', ') || '(none)'}`,
      )
    }
    return entry.factory(parsed, count, context)
  }

  /** True when sources of `scheme` can be split into shares. */
  canShare(scheme: string): boolean {
    return this.#shares.has(scheme.toLowerCase())
  }

  async createSource(uri: string, context: FactoryContext): Promise<Source> {
    const parsed = parseUri(uri)
    const entry = this.#sources.get(parsed.scheme)
    if (!entry) throw unknownScheme('source', parsed.scheme, uri, this.sourceSchemes())
    return entry.factory(parsed, context)
  }

  async createSink(uri: string, context: FactoryContext): Promise<Sink> {
    const parsed = parseUri(uri)
    const entry = this.#sinks.get(parsed.scheme)
    if (!entry) throw unknownScheme('sink', parsed.scheme, uri, this.sinkSchemes())
    return entry.factory(parsed, context)
  }
}

function unknownScheme(kind: string, scheme: string, uri: string, known: string[]): HydratorError {
  return new HydratorError(
    'ERR_UNKNOWN_SCHEME',
    `unknown ${kind} scheme \`${scheme}:\` in \`${uri}\`; known ${kind} schemes: ${known.map((s) => `${s}:`).join(', ')} (a plugin can add more with --plugin)`,
  )
}

/** Splits `scheme:rest?query`. Throws ERR_INVALID_URI when there is no scheme. */
export function parseUri(uri: string): ParsedUri {
  const m = /^([a-z][a-z0-9+.-]*):(.*)$/is.exec(uri ?? '')
  if (!m || m[1]!.length < 2) {
    // `C:\events\x.ndjson`: a drive letter is never a scheme.
    if (looksLikeWindowsPath(uri ?? '')) {
      throw new HydratorError('ERR_INVALID_URI', `\`${uri}\` is a Windows path, not a URI: write \`json:${uri}\` to read it, \`ndjson:${uri}\` to write it`)
    }
    throw new HydratorError(
      'ERR_INVALID_URI',
      `\`${uri}\` is not a URI: expected \`scheme:location\`, e.g. \`json:./events.ndjson\` or \`postgres://user@host/db?table=users\``,
    )
  }
  const rest = m[2]!
  const q = queryStart(rest)
  return {
    uri,
    scheme: m[1]!.toLowerCase(),
    rest,
    path: q === -1 ? rest : rest.slice(0, q),
    params: new URLSearchParams(q === -1 ? '' : rest.slice(q + 1)),
  }
}
