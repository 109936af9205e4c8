import path from 'node:path'
import { registryWith } from './builtins.js'
import { fileSession, lockCheckpoint, openStoreSession, readCheckpoint, type CheckpointIdentity, type CheckpointSession, type CheckpointStore } from './checkpoint/index.js'
import { openDeadLetters } from './dead-letter.js'
import { failedKeysIn, parkingOf } from './park.js'
import { HydratorError, errorMessage } from './errors.js'
import { importModule, loadPattern } from './load.js'
import type { Mapping } from './mapping.js'
import type { EventPattern } from './pattern/index.js'
import { parseUri, type FactoryContext, type Registry } from './registry.js'
import { parseShare, shareName, type Share } from './share.js'
import type { RunReport } from './report/schema.js'
import { run } from './run.js'
import { filter as filterStage } from './stages/filter.js'
import { map } from './stages/map.js'
import { paceFor, parseRate, parseRateOption } from './stages/rate.js'
import { rateControl, type RateControl } from './rate-control.js'
import { take } from './stages/take.js'
import { orderKeyCheck } from './stages/order-by.js'
import { canReread, sortedSource, sortPlanOf } from './sort/options.js'
import type { Stage } from './types.js'
import { redactUri } from './util/options.js'
import { localPath } from './util/local-path.js'
import { finishRebuild, rebuildId, rebuildWanted, swapLeftOver, type RebuildOptions } from './rebuild.js'

import type { HydrateFilter, HydrateOptions } from './hydrate-options.js'

export type { HydrateFilter, HydrateOptions } from './hydrate-options.js'

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

function rateOf(value: string | number | undefined): number | 'auto' | undefined {
  if (value === undefined) return undefined
  try {
    return parseRateOption(value)
  } catch (error) {
    throw new HydratorError('ERR_INVALID_OPTION', `\`rate\` (--rate): ${errorMessage(error)} (e.g. '50/s', '3000/m' or 'auto')`)
  }
}

/** `rate: 'auto'` (with `maxRate`) as a controller; undefined for a fixed rate or none. */
function rateControlOf(rate: number | 'auto' | undefined, maxRate: string | number | undefined): RateControl | undefined {
  if (maxRate === undefined || maxRate === null) return rate === 'auto' ? rateControl() : undefined
  if (rate !== 'auto') throw new HydratorError('ERR_USAGE', '--max-rate is the ceiling of --rate auto: add --rate auto (or give a fixed --rate alone)')
  let maxPerSecond: number
  try {
    maxPerSecond = parseRate(maxRate)
  } catch (error) {
    throw new HydratorError('ERR_INVALID_OPTION', `\`maxRate\` (--max-rate): ${errorMessage(error).replace('`--rate`', '`--max-rate`')} (e.g. '500/s')`)
  }
  return rateControl({ maxPerSecond })
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
  const parkingOptions = { onKeyFailure: options.onKeyFailure, orderKey: options.orderKey || undefined, maxFailedKeys: integer(options, 'maxFailedKeys', 1) }
  parkingOf(parkingOptions, () => {}) // checked before any I/O
  const rateGiven = rateOf(options.rate)
  const ratePerSecond = rateGiven === 'auto' ? undefined : rateGiven
  const adaptive = rateControlOf(rateGiven, options.maxRate)
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
  const rebuilding = rebuildWanted(options, share !== undefined)
  const identity: CheckpointIdentity = {
    source: `${sourceName ?? 'iterable'}${share ? `#${shareName(share)}` : ''}`,
    filter: JSON.stringify({ filter: rules.map(describe), transform: describe(options.transform) ?? null, limit: limit ?? null, ...sortPlan?.identity }),
    // A checkpoint of a rebuild counts the events in its copy, not in the target: never mix the two.
    sink: `${sinkName ?? 'sink'}${rebuilding ? ' --rebuild' : ''}`,
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
    // One copy per checkpoint: a resume finds the copy its checkpoint's events are in.
    const rebuild: RebuildOptions | undefined = rebuilding
      ? { id: rebuildId(session?.uri), ...(options.keepOld ? { keepOld: true } : {}), ...(previous ? { resume: true } : {}) }
      : undefined
    if (previous?.complete) {
      const report = alreadyComplete(previous, session!.uri, sourceName, sinkName, share)
      if (!rebuild || options.dryRun || report.status !== 'ok' || typeof sinkGiven !== 'string') return report
      // Killed between the checkpoint's last write and the swap: the swap is still to do.
      const sink = await registry.createSink(sinkGiven, { ...baseContext, ...(mapping ? { mapping } : {}), ...(options.table ? { table: options.table } : {}), flags: { ...options, rebuild } })
      // Awaited here: the client closes in `finally`.
      return sink.rebuild ? await swapLeftOver(report, sink.rebuild) : report
    }

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
      flags: { ...options, maxFailures, ...(maxBuffered !== undefined ? { maxBuffered } : {}), rebuild },
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
    if (rebuild && !sink.rebuild) {
      throw new HydratorError('ERR_USAGE', `--rebuild: the sink \`${sinkName ?? 'sink'}\` cannot write beside its target; the storage sinks can (postgres:, mssql:, opensearch:, dynamo:)`)
    }
    const pace = paceFor(sink, ratePerSecond, options.signal ? { signal: options.signal } : {})
    if (pace) stages.push(pace)
    let source = typeof options.source === 'string' ? await registry.createSource(options.source, context) : options.source
    if (sortPlan) {
      const uri = options.source
      const again = typeof uri === 'string' && canReread(uri) ? () => registry.createSource(uri, context) : undefined
      source = sortedSource(sortPlan, source, again, { cwd, uri: sourceName, signal: options.signal, resume: previous?.position })
    }
    // A resume after a crash: the keys the crashed run had failed were in its memory only; its
    // dead-letter file names them (each line's orderKey), so their later events are parked again.
    const deadLetterFile = options.deadLetter ? path.resolve(cwd, localPath(options.deadLetter)) : undefined
    const failedKeys =
      previous && deadLetterFile && parkingOptions.onKeyFailure !== 'continue' && !options.dryRun ? await failedKeysIn(deadLetterFile, parkingOptions.maxFailedKeys) : []
    const deadLetters = deadLetterFile ? await openDeadLetters(deadLetterFile) : undefined
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
      ...(adaptive ? { rate: adaptive } : {}),
      ...parkingOptions,
      failedKeys,
    })
    // A sink object made with its own `rebuild` option is swapped too.
    const finished = sink.rebuild ? await finishRebuild(report, sink.rebuild) : report
    return share ? { ...finished, share: { plan: share.plan, index: share.index, count: share.count } } : finished
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
