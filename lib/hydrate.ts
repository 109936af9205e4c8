import path from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { registryWith } from './builtins.js'
import { fileSession, lockCheckpoint, openStoreSession, readCheckpoint, type CheckpointIdentity, type CheckpointSession, type CheckpointStore } from './checkpoint/index.js'
import { openDeadLetters } from './dead-letter.js'
import { HydratorError, errorMessage } from './errors.js'
import { importModule, loadPattern } from './load.js'
import type { Mapping } from './mapping.js'
import type { EventPattern } from './pattern/index.js'
import { parseUri, type FactoryContext, type Plugin, type Registry } from './registry.js'
import { parseShare, shareName, type Share } from './share.js'
import type { RunReport } from './report/schema.js'
import { run, type Progress } from './run.js'
import { filter as filterStage } from './stages/filter.js'
import { map } from './stages/map.js'
import { paceFor, parseRate } from './stages/rate.js'
import { take } from './stages/take.js'
import { orderKeyCheck } from './stages/order-by.js'
import { canReread, sortedSource, sortPlanOf } from './sort/options.js'
import type { Sink, Source, Stage } from './types.js'
import { redactUri } from './util/options.js'
import { localPath } from './util/local-path.js'

/** A filter rule: an EventBridge pattern, a pattern file or inline JSON, or a predicate. */
export type HydrateFilter = EventPattern | string | ((event: any) => boolean)

/**
 * What {@link hydrate} takes: the CLI's flags, camel-cased, with the same names and defaults
 * (`--batch-size` is `batchSize`, `--dead-letter` is `deadLetter`). Source and sink are URIs or
 * objects; every URI goes through the same registry as the CLI's.
 */
export interface HydrateOptions {
  /** Where events come from: a URI (`json:./events.ndjson`, `dynamo:events`, ...) or any source. */
  readonly source: string | Source<any>
  /** Where events go: a URI (`postgres://...?table=users`, `dynamo:users`, ...) or any sink. @default 'ndjson:-' */
  readonly sink?: string | Sink<any>
  /** EventBridge pattern(s) selecting the events (a pattern, a file or inline JSON, a predicate); several mean any. */
  readonly filter?: HydrateFilter | readonly HydrateFilter[]
  /** Maps each event (a function, or a module whose default export is one); undefined drops, an array fans out. A throw fails that event (ERR_TRANSFORM). */
  readonly transform?: ((event: any) => unknown) | string
  /** Storage mapping: `name=json.path` (repeatable), or `{ name: 'json.path' }`. */
  readonly column?: string | readonly string[] | Readonly<Record<string, string>>
  /** The key column(s): `id`, `tenant,id`, or a list. */
  readonly key?: string | readonly string[]
  /** A mapped column whose higher value wins; older or equal versions are skipped. */
  readonly versionColumn?: string
  /** Events matching this pattern (or a file, inline JSON, a predicate) delete their row. */
  readonly deleteWhen?: HydrateFilter
  /** The target table (a sink URI's `?table=` wins). */
  readonly table?: string
  /** Read and filter for real, write nothing; storage sinks report a plan. @default false */
  readonly dryRun?: boolean
  /**
   * Record progress here and resume from it when it exists: a local file (one run at a time:
   * `<file>.lock`), a store URI (`dynamo:table/run-id`, `s3://bucket/key`, or a plugin's scheme;
   * one worker at a time through a lease), or a {@link CheckpointStore}. With a `share`, each share
   * has its own: `run.share-2-of-16.ckpt`, `dynamo:table/run-id/share-2-of-16`.
   */
  readonly checkpoint?: string | CheckpointStore
  /**
   * Store checkpoints: how long the lease lasts without a write renewing it (ms; a worker that
   * died frees its share after this), or a function giving the lease's end as epoch ms (the Lambda
   * handler: the invocation's deadline). @default 60000
   */
  readonly checkpointLease?: number | (() => number)
  /** Run one share of a split run: one element of what `hydrate plan --shares N` printed (object or JSON). */
  readonly share?: Share | string
  /** Milliseconds between checkpoint writes. @default 5000 */
  readonly checkpointInterval?: number
  /** Append every failed event to this NDJSON file (a valid source for a redrive). */
  readonly deadLetter?: string
  /** Stop (status failed) after this many failures, or this share of the events read (`'5%'`). @default no limit */
  readonly maxFailures?: number | string
  /** Stop after this many matched events. */
  readonly limit?: number
  /** Events per write request. @default the sink's */
  readonly batchSize?: number
  /** Writes or invocations in flight (events with one `orderKey` stay in order). */
  readonly concurrency?: number
  /** JSON path whose value keeps events in order under `concurrency`. */
  readonly orderKey?: string
  /** Pace the sink: `'50/s'`, `'3000/m'`, or events per second. */
  readonly rate?: string | number
  /** Sort the events by these JSON paths before the filter (`'time'`, `'detail.sequence,id'`): a stable external merge sort. */
  readonly orderBy?: string | readonly string[]
  /** Events without the `orderBy` key: fail (ERR_ORDER_KEY_MISSING), or sort first or last. @default 'fail' */
  readonly orderMissing?: 'fail' | 'first' | 'last'
  /** Memory for sorting before runs are spilled: bytes, or `'64MB'`. @default '256MB' */
  readonly sortMemory?: number | string
  /** Where sorted runs are spilled (a folder of its own, removed at the end). @default os.tmpdir() */
  readonly tempDir?: string
  /** Plugins adding schemes: modules (paths or package names) or plugin objects. */
  readonly plugins?: readonly (string | Plugin)[]
  /** Stops the run gracefully: reading stops, writes in flight finish, status `aborted`. */
  readonly signal?: AbortSignal
  /** Called about once a second with the counts so far. */
  readonly onProgress?: (progress: Progress) => void
  /** Skip NDJSON lines that provably cannot match without parsing them. @default true */
  readonly prefilter?: boolean
  /** Delivery sinks: the `replay-name` marking hydration events (`false` or `''` for none). @default 'event-hydrator' */
  readonly replayName?: string | false
  /** Delivery sinks: the EventBridge envelope mapping (an object, a file or inline JSON). */
  readonly envelope?: unknown
  /** Delivery sinks: events waiting for their ordered lane at most. */
  readonly maxBuffered?: number
  /** Attempts per write, the first included. @default 8 */
  readonly retryAttempts?: number
  /** Longest backoff delay in ms. @default 20000 */
  readonly retryMaxDelay?: number
  /**
   * The environment plugins read (AWS region and endpoints, DATABASE_URL, ...): hydrate() is the
   * CLI's engine and, like the CLI, reads it. The functions it builds on never do. @default process.env
   */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Where relative paths start. @default process.cwd() */
  readonly cwd?: string
  /** What `json:-` reads. @default process.stdin */
  readonly stdin?: Readable
  /** What `ndjson:-` writes. @default process.stdout */
  readonly stdout?: Writable
  /** Any other option, for plugins with options of their own (they read `context.flags`). */
  readonly [option: string]: unknown
}

/** Checks an integer option, naming it as code and as the CLI writes it. */
function integer(options: HydrateOptions, name: keyof HydrateOptions & string, min: number): number | undefined {
  const value = options[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    const flag = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`${name}\` (--${flag}) to be an integer >= ${min}, got \`${String(value)}\``)
  }
  return value
}

function maxFailuresOf(value: number | string | undefined): { maxFailures?: number; maxFailureRate?: number } {
  if (value === undefined) return {}
  const text = String(value).trim()
  const m = /^(\d+(?:\.\d+)?)(%)?$/.exec(text)
  if (!m) throw new HydratorError('ERR_INVALID_OPTION', `expected \`maxFailures\` (--max-failures) to be a count (100) or a share of the events read ('5%'), got \`${text}\``)
  if (m[2]) return { maxFailureRate: Number(m[1]) / 100 }
  if (!Number.isInteger(Number(m[1]))) throw new HydratorError('ERR_INVALID_OPTION', `expected \`maxFailures\` (--max-failures) to be a whole number or a percentage, got \`${text}\``)
  return { maxFailures: Number(m[1]) }
}

function rateOf(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined
  try {
    return parseRate(value)
  } catch (error) {
    throw new HydratorError('ERR_INVALID_OPTION', `\`rate\` (--rate): ${errorMessage(error)} (e.g. '50/s', '3000/m')`)
  }
}

const list = <T>(value: T | readonly T[] | undefined): readonly T[] => (value === undefined ? [] : Array.isArray(value) ? (value as readonly T[]) : [value as T])

/** A filter rule as a pattern or predicate; strings are files or inline JSON. */
async function ruleOf(rule: HydrateFilter, cwd: string, what: string): Promise<EventPattern | ((event: unknown) => boolean)> {
  if (typeof rule === 'function') return rule
  if (typeof rule === 'string') return loadPattern(rule, cwd, what)
  if (!rule || typeof rule !== 'object' || Array.isArray(rule)) {
    throw new HydratorError('ERR_INVALID_PATTERN', `${what}: expected an EventBridge pattern object, a pattern file, inline JSON or a predicate, got \`${Array.isArray(rule) ? 'an array' : String(rule)}\``)
  }
  // Validated now, before any event is read, with the same error as a pattern file.
  return loadPattern(JSON.stringify(rule), cwd, what)
}

/** The storage mapping from `column`, `key`, `versionColumn`, `deleteWhen`; undefined when none is given. */
async function mappingOf(options: HydrateOptions, cwd: string): Promise<Mapping | undefined> {
  const columns: Record<string, string> = {}
  const given = options.column
  if (given && typeof given === 'object' && !Array.isArray(given)) Object.assign(columns, given)
  else {
    for (const spec of list(given as string | readonly string[] | undefined)) {
      const eq = spec.indexOf('=')
      if (eq <= 0 || eq === spec.length - 1) {
        throw new HydratorError('ERR_USAGE', `--column \`${spec}\`: expected name=json.path, e.g. --column id=detail.aggregateId (or body=. for the whole event)`)
      }
      columns[spec.slice(0, eq).trim()] = spec.slice(eq + 1).trim()
    }
  }
  // A config file may still say `columns`.
  const legacy = options.columns
  if (legacy && typeof legacy === 'object') Object.assign(columns, legacy)
  if (Object.keys(columns).length === 0) {
    if (options.key || options.versionColumn || options.deleteWhen) {
      throw new HydratorError('ERR_USAGE', '--key, --version-column and --delete-when need at least one --column name=json.path')
    }
    return undefined
  }
  const key = list(options.key).flatMap((k) => String(k).split(',')).map((k) => k.trim()).filter(Boolean)
  return {
    columns,
    key,
    ...(options.versionColumn ? { versionColumn: options.versionColumn } : {}),
    ...(options.deleteWhen ? { deleteWhen: await ruleOf(options.deleteWhen, cwd, '--delete-when') } : {}),
  }
}

const describe = (value: unknown) => (typeof value === 'function' ? `function ${value.name || '(anonymous)'}: ${String(value).slice(0, 500)}` : value)

/**
 * Runs a hydration as the CLI does, from code: builds the chain from URIs (or objects) through the
 * same registry, with the same options and defaults as the flags, runs it, closes every client it
 * opened, and resolves with the {@link RunReport}. Configuration problems (an unknown scheme, a
 * bad mapping, an invalid pattern, a missing table) reject with a HydratorError before any event is
 * read; data problems are counted in the report.
 *
 * @example
 * const report = await hydrate({
 *   source: 'json:./events.ndjson',
 *   filter: { source: ['users'] },
 *   sink: 'postgres://app@localhost/app?table=users',
 *   column: ['id=detail.id', 'name=detail.name', 'version=detail.version'],
 *   key: 'id',
 *   versionColumn: 'version',
 * })
 * if (report.status !== 'ok') console.error(report.failures.samples)
 */
export async function hydrate(options: HydrateOptions): Promise<RunReport> {
  if (!options || typeof options !== 'object') throw new HydratorError('ERR_INVALID_OPTION', 'hydrate() needs an options object with a `source`')
  if (!options.source) throw new HydratorError('ERR_USAGE', 'missing --source, e.g. --source json:./events.ndjson (see --help)')
  const cwd = options.cwd ?? process.cwd()
  const env = options.env ?? process.env
  const sinkGiven = options.sink ?? 'ndjson:-'
  const registry = await registryWith(options.plugins ?? [], cwd)
  const limit = integer(options, 'limit', 0)
  const batchSize = integer(options, 'batchSize', 1)
  const concurrency = integer(options, 'concurrency', 1)
  const maxBuffered = integer(options, 'maxBuffered', 1)
  const retryAttempts = integer(options, 'retryAttempts', 1)
  const retryMaxDelay = integer(options, 'retryMaxDelay', 0)
  const intervalMs = integer(options, 'checkpointInterval', 0) ?? 5000
  const { maxFailures, maxFailureRate } = maxFailuresOf(options.maxFailures)
  const ratePerSecond = rateOf(options.rate)
  const sortPlan = sortPlanOf(options)
  const rules = []
  for (const rule of list(options.filter)) rules.push(await ruleOf(rule, cwd, '--filter'))
  const mapping = await mappingOf(options, cwd)
  const sourceName = typeof options.source === 'string' ? redactUri(options.source) : undefined
  const sinkName = typeof sinkGiven === 'string' ? redactUri(sinkGiven) : sinkGiven.uri
  const share = options.share !== undefined && options.share !== null ? parseShare(options.share, sourceName ?? 'iterable') : undefined
  if (share && typeof options.source === 'string' && !registry.canShare(parseUri(options.source).scheme)) {
    throw new HydratorError('ERR_SHARES_UNSUPPORTED', `--share: \`${parseUri(options.source).scheme}:\` sources cannot be split into shares`)
  }
  const identity: CheckpointIdentity = {
    source: `${sourceName ?? 'iterable'}${share ? `#${shareName(share)}` : ''}`,
    filter: JSON.stringify({ filter: rules.map(describe), transform: describe(options.transform) ?? null, limit: limit ?? null, ...sortPlan?.identity }),
    sink: sinkName ?? 'sink',
    ...(mapping || options.table ? { mapping: JSON.stringify({ ...mapping, deleteWhen: describe(mapping?.deleteWhen), table: options.table ?? null }) } : {}),
  }

  const closers: (() => Promise<void> | void)[] = []
  const retry = { ...(retryAttempts !== undefined ? { attempts: retryAttempts } : {}), ...(retryMaxDelay !== undefined ? { maxDelayMs: retryMaxDelay } : {}) }
  const baseContext: FactoryContext = {
    env,
    cwd,
    retry,
    flags: { ...options },
    onClose: (fn) => closers.push(fn),
    createSource: (uri) => registry.createSource(uri, baseContext),
  }
  // The hold first, then the checkpoint: what is read is what this run owns. A process that exits
  // before the end (a second Ctrl-C) removes a file's lock on its way out.
  let session: CheckpointSession | undefined
  const releaseOnExit = () => session?.releaseSync?.()
  try {
    session = options.checkpoint ? await openCheckpoint(options, registry, baseContext, identity, share) : undefined
    if (session?.releaseSync) process.once('exit', releaseOnExit)
    const previous = session?.previous
    if (previous?.complete) return alreadyComplete(previous, session!.uri, sourceName, sinkName, share)

    const context: FactoryContext = {
      ...baseContext,
      ...(share ? { share } : {}),
      ...(options.stdin ? { stdin: options.stdin } : {}),
      ...(options.stdout ? { stdout: options.stdout } : {}),
      ...(mapping ? { mapping } : {}),
      ...(options.table ? { table: options.table } : {}),
      ...(batchSize !== undefined ? { batchSize } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(options.orderKey ? { orderKey: options.orderKey } : {}),
      ...(ratePerSecond !== undefined ? { ratePerSecond } : {}),
      flags: { ...options, maxFailures, ...(maxBuffered !== undefined ? { maxBuffered } : {}) },
      // A sorted run re-reads its whole source and skips in sorted order (sortSource).
      ...(previous?.position && !sortPlan ? { resume: previous.position } : {}),
      ...(previous?.sinkState !== undefined ? { resumeSink: previous.sinkState } : {}),
    }

    const stages: Stage<any, any>[] = []
    if (sortPlan?.missing === 'fail') stages.push(orderKeyCheck(sortPlan.orderBy))
    if (rules.length > 0) stages.push(filterStage(rules))
    if (options.transform !== undefined) {
      let fn = options.transform
      if (typeof fn === 'string') {
        const mod = await importModule(fn, cwd, '--transform')
        fn = (mod.default ?? mod.transform) as (event: unknown) => unknown
        if (typeof fn !== 'function') throw new HydratorError('ERR_PLUGIN', `--transform ${options.transform}: export a function as default or as \`transform\``)
      }
      if (typeof fn !== 'function') throw new HydratorError('ERR_INVALID_OPTION', 'expected `transform` to be a function or a module path')
      // A transform that throws fails its event (ERR_TRANSFORM), not the run.
      stages.push(map(fn as (event: unknown) => unknown, { onError: 'fail', name: 'transform' }))
    }
    if (limit !== undefined) stages.push(take(limit))

    // The sink first: it checks its target (a missing table fails before anything is read).
    const sink = typeof sinkGiven === 'string' ? await registry.createSink(sinkGiven, context) : sinkGiven
    if (typeof sink !== 'function') throw new HydratorError('ERR_INVALID_OPTION', 'expected `sink` to be a URI or a sink function')
    const pace = paceFor(sink, ratePerSecond, options.signal ? { signal: options.signal } : {})
    if (pace) stages.push(pace)
    let source = typeof options.source === 'string' ? await registry.createSource(options.source, context) : options.source
    if (sortPlan) {
      const uri = options.source
      const again = typeof uri === 'string' && canReread(uri) ? () => registry.createSource(uri, context) : undefined
      source = sortedSource(sortPlan, source, again, { cwd, uri: sourceName, signal: options.signal, resume: previous?.position })
    }
    const deadLetters = options.deadLetter ? await openDeadLetters(path.resolve(cwd, localPath(options.deadLetter))) : undefined
    if (deadLetters) closers.push(() => deadLetters.close())
    const report = await run({
      source,
      stages,
      sink,
      dryRun: Boolean(options.dryRun),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(maxFailures !== undefined ? { maxFailures } : {}),
      ...(maxFailureRate !== undefined ? { maxFailureRate } : {}),
      prefilter: options.prefilter !== false,
      ...(deadLetters ? { deadLetter: deadLetters } : {}),
      ...(session ? { checkpoint: { session, identity, intervalMs } } : {}),
      ...(sourceName ? { sourceUri: sourceName } : {}),
      ...(sinkName ? { sinkUri: sinkName } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    })
    return share ? { ...report, share: { plan: share.plan, index: share.index, count: share.count } } : report
  } finally {
    process.removeListener('exit', releaseOnExit)
    await session?.release()
    for (const close of closers.reverse()) await close()
  }
}

/** A checkpoint's place for one share: `run.ckpt` -> `run.share-2-of-4.ckpt`, `dynamo:t/run` -> `dynamo:t/run/share-2-of-4`. */
function forShare(target: string, share: Share | undefined, isFile: boolean): string {
  if (!share) return target
  const name = shareName(share)
  if (isFile) {
    const ext = path.extname(target)
    return ext ? `${target.slice(0, -ext.length)}.${name}${ext}` : `${target}.${name}`
  }
  const q = target.indexOf('?')
  return q === -1 ? `${target}/${name}` : `${target.slice(0, q)}/${name}${target.slice(q)}`
}

/** Takes the run's checkpoint: a local file (locked), or a store (leased). */
async function openCheckpoint(options: HydrateOptions, registry: Registry, context: FactoryContext, identity: CheckpointIdentity, share: Share | undefined): Promise<CheckpointSession> {
  const given = options.checkpoint!
  const lease = options.checkpointLease
  if (lease !== undefined && typeof lease !== 'function' && (typeof lease !== 'number' || !(lease >= 1000))) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`checkpointLease\` (--checkpoint-lease) to be milliseconds >= 1000, got \`${String(lease)}\``)
  }
  const leaseOptions = { env: context.env, ...(typeof lease === 'function' ? { leaseUntil: lease } : lease !== undefined ? { leaseMs: lease } : {}) }
  let store: CheckpointStore | undefined
  if (typeof given === 'object') {
    if (!given || typeof given.load !== 'function' || typeof given.save !== 'function') {
      throw new HydratorError('ERR_INVALID_OPTION', 'expected `checkpoint` to be a file path, a store URI or a CheckpointStore ({ uri, load, save })')
    }
    if (share) throw new HydratorError('ERR_INVALID_OPTION', '`checkpoint` as a store object holds one record: with a `share`, give a store URI (each share gets its own record) or one store per share')
    store = given
  } else {
    const m = /^([a-z][a-z0-9+.-]+):/i.exec(given)
    const scheme = m?.[1]!.toLowerCase()
    // `scheme:...` is a store (an unknown scheme is an error naming the known ones, never a file
    // named after a typo); `file:` or a path is a file (`C:\...` has a one-letter scheme).
    if (scheme && scheme !== 'file') store = await registry.createCheckpointStore(forShare(given, share, false), context)
  }
  if (store) {
    if (store.close) context.onClose(() => store.close!())
    return openStoreSession(store, identity, leaseOptions)
  }
  const file = forShare(path.resolve(context.cwd, localPath(String(given))), share, true)
  const lock = await lockCheckpoint(file)
  try {
    return fileSession(file, lock, await readCheckpoint(file, identity), true)
  } catch (error) {
    await lock.release()
    throw error
  }
}

/** The report of a run that had nothing to do: its checkpoint says the job completed. */
function alreadyComplete(
  previous: { totals: import('./report/schema.js').CheckpointTotals; position?: import('./position.js').Position },
  file: string,
  source = 'iterable',
  sink = 'sink',
  share?: Share,
): RunReport {
  const now = new Date().toISOString()
  const t = previous.totals
  const failed = t.failed + t.sourceFailed
  return {
    status: failed > 0 ? 'partial' : 'ok',
    dryRun: false,
    startedAt: now,
    finishedAt: now,
    durationMs: 0,
    source: { uri: source, read: 0, failed: 0 },
    filter: { matched: 0, unmatched: 0, prefiltered: 0 },
    sink: { uri: sink, received: 0, written: 0, skipped: 0, failed: 0, deleted: 0, previews: [], retries: {}, skippedBy: {} },
    failures: { count: 0, samples: [] },
    stages: [],
    eventsPerSecond: 0,
    checkpoint: { file, ...(previous.position ? { position: previous.position } : {}), complete: true, held: 0, totals: t, startTotals: t, alreadyComplete: true },
    ...(share ? { share: { plan: share.plan, index: share.index, count: share.count } } : {}),
  }
}
