import { existsSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import yargs from 'yargs'
import { lockCheckpoint, readCheckpoint, type CheckpointIdentity, type CheckpointLock } from '../lib/checkpoint/index.js'
import { openDeadLetters } from '../lib/dead-letter.js'
import { HydratorError, errorMessage, isConfigError } from '../lib/errors.js'
import type { Mapping } from '../lib/mapping.js'
import type { EventPattern } from '../lib/pattern/index.js'
import { defaultRegistry } from '../lib/builtins.js'
import type { FactoryContext, Plugin, Registry } from '../lib/registry.js'
import { formatReport } from '../lib/report/format.js'
import type { RunReport } from '../lib/report/report.js'
import { run } from '../lib/run.js'
import { filter } from '../lib/stages/filter.js'
import { map } from '../lib/stages/map.js'
import { paceFor, parseRate } from '../lib/stages/rate.js'
import { take } from '../lib/stages/take.js'
import type { Stage } from '../lib/types.js'
import { redactUri } from '../lib/util/options.js'
import { redactSecrets } from '../lib/util/redact.js'
import { stringifyTagged } from '../lib/util/tagged-json.js'
import { EXIT, type CliIo } from './io.js'
import { importModule, loadPattern } from './load.js'
import { patternCommands } from './pattern.js'
import { startProgress } from './progress.js'

/** The options of the main command, camel-cased by yargs. */
interface RunArgs {
  source?: string
  sink: string
  filter?: string[]
  transform?: string
  dryRun?: boolean
  report: 'text' | 'json'
  reportFile?: string
  limit?: number
  batchSize?: number
  maxFailures?: string
  checkpoint?: string
  checkpointInterval?: number
  deadLetter?: string
  plugin?: string[]
  config?: string
  quiet?: boolean
  column?: string[]
  key?: string
  versionColumn?: string
  deleteWhen?: string
  table?: string
  concurrency?: number
  orderKey?: string
  rate?: string
  replayName?: string
  retryAttempts?: number
  retryMaxDelay?: number
  prefilter?: boolean
  [key: string]: unknown
}

async function loadPlugins(registry: Registry, specifiers: readonly string[], cwd: string): Promise<void> {
  for (const specifier of specifiers) {
    const mod = await importModule(specifier, cwd, '--plugin')
    let plugin = (mod.default ?? mod.plugin) as Plugin | (() => Plugin | Promise<Plugin>) | undefined
    if (typeof plugin === 'function') plugin = await plugin()
    if (!plugin || typeof plugin !== 'object') {
      throw new HydratorError('ERR_PLUGIN', `--plugin ${specifier}: export a plugin object ({ name, sources, sinks }) as default or as \`plugin\``)
    }
    registry.register(plugin)
  }
}

/**
 * Reads `--config hydrate.config.json|.mjs|.js` for yargs' `.config()`: the same options as the
 * flags, camel-cased; flags on the command line win. A module's default export is the object, or a
 * function returning it (loaded with require(), which takes ES modules on Node 20.19 and later).
 */
function readConfig(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new HydratorError('ERR_FILE_NOT_FOUND', `--config: cannot find \`${file}\``)
  if (/\.[cm]?js$/.test(file)) {
    let mod: Record<string, unknown>
    try {
      mod = createRequire(import.meta.url)(file) as Record<string, unknown>
    } catch (error) {
      throw new HydratorError('ERR_PLUGIN', `--config: cannot load \`${file}\`: ${errorMessage(error)}`, { cause: error })
    }
    let value = (mod.default ?? mod) as unknown
    if (typeof value === 'function') value = (value as () => unknown)()
    if (!value || typeof value !== 'object' || typeof (value as { then?: unknown }).then === 'function') {
      throw new HydratorError('ERR_PLUGIN', `--config ${file}: export the options object (or a function returning it) as default`)
    }
    return value as Record<string, unknown>
  }
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  } catch (error) {
    throw new HydratorError('ERR_USAGE', `--config ${file}: not valid JSON: ${errorMessage(error)}`)
  }
}

/** `--config <file>` relative to the CLI's working directory (yargs would resolve it against the process's). */
function withConfigResolved(argv: readonly string[], cwd: string): string[] {
  const out = [...argv]
  for (let i = 0; i < out.length; i++) {
    if (out[i] === '--config' && out[i + 1] !== undefined) out[i + 1] = path.resolve(cwd, out[i + 1]!)
    else if (out[i]!.startsWith('--config=')) out[i] = `--config=${path.resolve(cwd, out[i]!.slice('--config='.length))}`
  }
  return out
}

/** Builds the storage mapping from --column/--key/--version-column/--delete-when, if any is given. */
export async function mappingFromArgs(args: RunArgs, cwd: string): Promise<Mapping | undefined> {
  const columnArgs = args.column ?? []
  const columns: Record<string, string> = {}
  const fromConfig = args.columns as Record<string, string> | undefined
  if (fromConfig && typeof fromConfig === 'object') Object.assign(columns, fromConfig)
  for (const spec of columnArgs) {
    const eq = spec.indexOf('=')
    if (eq <= 0 || eq === spec.length - 1) {
      throw new HydratorError('ERR_USAGE', `--column \`${spec}\`: expected name=json.path, e.g. --column id=detail.aggregateId (or body=. for the whole event)`)
    }
    columns[spec.slice(0, eq).trim()] = spec.slice(eq + 1).trim()
  }
  if (Object.keys(columns).length === 0) {
    if (args.key || args.versionColumn || args.deleteWhen) {
      throw new HydratorError('ERR_USAGE', '--key, --version-column and --delete-when need at least one --column name=json.path')
    }
    return undefined
  }
  const key = String(args.key ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
  return {
    columns,
    key,
    ...(args.versionColumn ? { versionColumn: args.versionColumn } : {}),
    ...(args.deleteWhen ? { deleteWhen: await loadPattern(args.deleteWhen, cwd, '--delete-when') } : {}),
  }
}

function rateFlag(rate: string | undefined): number | undefined {
  if (rate === undefined) return undefined
  try {
    return parseRate(rate)
  } catch (error) {
    throw new HydratorError('ERR_USAGE', `--rate \`${rate}\`: ${errorMessage(error)} (e.g. --rate 50/s, 3000/m)`)
  }
}

function parseMaxFailures(value: string | undefined): { maxFailures?: number; maxFailureRate?: number } {
  if (value === undefined) return {}
  const text = String(value).trim()
  const m = /^(\d+(?:\.\d+)?)(%)?$/.exec(text)
  if (!m) throw new HydratorError('ERR_USAGE', `--max-failures \`${value}\`: expected a count (100) or a share of the events read (5%)`)
  if (m[2]) return { maxFailureRate: Number(m[1]) / 100 }
  if (!Number.isInteger(Number(m[1]))) throw new HydratorError('ERR_USAGE', `--max-failures \`${value}\`: expected a whole number or a percentage`)
  return { maxFailures: Number(m[1]) }
}

function positiveInt(name: string, value: number | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isInteger(value) || value < min) throw new HydratorError('ERR_USAGE', `--${name}: expected an integer >= ${min}, got \`${value}\``)
  return value
}

async function runCommand(args: RunArgs, io: CliIo): Promise<number> {
  const registry = defaultRegistry()
  await loadPlugins(registry, args.plugin ?? [], io.cwd)
  if (!args.source) throw new HydratorError('ERR_USAGE', 'missing --source, e.g. --source json:./events.ndjson (see --help)')
  const sinkUri = args.sink
  if (args.report === 'json' && !args.reportFile && /^(ndjson|json|jsonl):-$/.test(sinkUri)) {
    throw new HydratorError('ERR_USAGE', '--report json prints to stdout, where the sink writes events too: add --report-file report.json or a file sink')
  }
  const limit = positiveInt('limit', args.limit, 0)
  const batchSize = positiveInt('batch-size', args.batchSize)
  const concurrency = positiveInt('concurrency', args.concurrency)
  const { maxFailures, maxFailureRate } = parseMaxFailures(args.maxFailures)
  const filterPatterns: EventPattern[] = []
  for (const f of args.filter ?? []) filterPatterns.push(await loadPattern(f, io.cwd))
  const mapping = await mappingFromArgs(args, io.cwd)
  const identity: CheckpointIdentity = {
    source: redactUri(args.source),
    filter: JSON.stringify({ filter: filterPatterns, transform: args.transform ?? null, limit: limit ?? null }),
    sink: redactUri(sinkUri),
    ...(mapping || args.table ? { mapping: JSON.stringify({ ...mapping, table: args.table ?? null }) } : {}),
  }
  const checkpointFile = args.checkpoint ? path.resolve(io.cwd, args.checkpoint) : undefined
  // The lock first, then the checkpoint: what is read is what this run owns.
  let lock: CheckpointLock | undefined
  const releaseOnExit = () => lock?.releaseSync()
  if (checkpointFile) {
    lock = await lockCheckpoint(checkpointFile)
    process.once('exit', releaseOnExit)
  }
  try {
    return await runLocked(args, io, { registry, limit, batchSize, concurrency, maxFailures, maxFailureRate, filterPatterns, mapping, identity, checkpointFile, lock })
  } finally {
    process.removeListener('exit', releaseOnExit)
    await lock?.release()
  }
}

interface Prepared {
  readonly registry: Registry
  readonly limit?: number
  readonly batchSize?: number
  readonly concurrency?: number
  readonly maxFailures?: number
  readonly maxFailureRate?: number
  readonly filterPatterns: readonly EventPattern[]
  readonly mapping?: Mapping
  readonly identity: CheckpointIdentity
  readonly checkpointFile?: string
  readonly lock?: CheckpointLock
}

async function runLocked(args: RunArgs, io: CliIo, prepared: Prepared): Promise<number> {
  const { registry, limit, batchSize, concurrency, maxFailures, maxFailureRate, filterPatterns, mapping, identity, checkpointFile, lock } = prepared
  const source = args.source!
  const sinkUri = args.sink
  const previous = checkpointFile ? await readCheckpoint(checkpointFile, identity) : undefined
  if (previous?.complete) {
    const failed = previous.totals.failed + previous.totals.sourceFailed
    io.stderr.write(
      `hydrate: the checkpoint ${args.checkpoint} says this run already completed (${previous.totals.read} events read, ${previous.totals.written} written, ` +
        `${previous.totals.skipped} skipped, ${failed} failed${failed > 0 ? ', kept in the dead-letter file' : ''}); delete it to run again\n`,
    )
    return failed > 0 ? EXIT.failures : EXIT.ok
  }
  const closers: (() => Promise<void> | void)[] = []
  const context: FactoryContext = {
    env: io.env,
    cwd: io.cwd,
    stdin: io.stdin,
    stdout: io.stdout,
    mapping,
    table: args.table,
    batchSize,
    concurrency,
    orderKey: args.orderKey,
    ratePerSecond: rateFlag(args.rate),
    retry: {
      ...(args.retryAttempts !== undefined ? { attempts: positiveInt('retry-attempts', args.retryAttempts) } : {}),
      ...(args.retryMaxDelay !== undefined ? { maxDelayMs: positiveInt('retry-max-delay', args.retryMaxDelay, 0) } : {}),
    },
    flags: { ...args, maxFailures },
    ...(previous?.position ? { resume: previous.position } : {}),
    ...(previous?.sinkState !== undefined ? { resumeSink: previous.sinkState } : {}),
    onClose: (fn) => closers.push(fn),
  }

  const stages: Stage<any, any>[] = []
  if (filterPatterns.length > 0) stages.push(filter(filterPatterns))
  if (args.transform) {
    const mod = await importModule(args.transform, io.cwd, '--transform')
    const fn = (mod.default ?? mod.transform) as ((event: unknown) => unknown) | undefined
    if (typeof fn !== 'function') throw new HydratorError('ERR_PLUGIN', `--transform ${args.transform}: export a function as default or as \`transform\``)
    // A transform that throws fails its event (ERR_TRANSFORM), not the run.
    stages.push(map(fn as (event: unknown) => unknown, { onError: 'fail', name: 'transform' }))
  }
  if (limit !== undefined) stages.push(take(limit))

  try {
    // The sink first: it checks its target (a missing table exits 2 before anything is read).
    const sink = await registry.createSink(sinkUri, context)
    // Sinks that pace their own calls say so (Lambda after its ordered lanes, EventBridge per
    // request, a plugin's with withSinkInfo); every other sink is paced by a rate stage in front.
    const perSecond = context.ratePerSecond
    const pace = paceFor(sink, perSecond, io.signal ? { signal: io.signal } : {})
    if (pace) stages.push(pace)
    const events = await registry.createSource(source, context)
    const progress = !args.quiet && io.stderr.isTTY ? startProgress(io.stderr) : undefined
    const deadLetters = args.deadLetter ? await openDeadLetters(path.resolve(io.cwd, args.deadLetter)) : undefined
    if (deadLetters) closers.push(() => deadLetters.close())
    let report: RunReport
    try {
      // Sinks whose deliveries cannot be repeated harmlessly (appends, invocations) also checkpoint
      // after every batch (run() asks them), so a hard kill repeats at most the batches in flight.
      const intervalMs = positiveInt('checkpoint-interval', args.checkpointInterval, 0) ?? 5000
      report = await run({
        source: events,
        stages,
        sink,
        dryRun: Boolean(args.dryRun),
        signal: io.signal,
        maxFailures,
        maxFailureRate,
        prefilter: args.prefilter !== false,
        ...(deadLetters ? { deadLetter: deadLetters } : {}),
        ...(checkpointFile ? { checkpoint: { file: checkpointFile, identity, previous, intervalMs, lock } } : {}),
        sourceUri: redactUri(source),
        sinkUri: redactUri(sinkUri),
        onProgress: progress?.update,
      })
    } finally {
      progress?.stop()
    }
    if (args.report === 'json') {
      const text = stringifyTagged(report, 2) + '\n'
      if (args.reportFile) await writeFile(path.resolve(io.cwd, args.reportFile), text)
      else io.stdout.write(text)
    } else if (args.reportFile) {
      await writeFile(path.resolve(io.cwd, args.reportFile), stringifyTagged(report, 2) + '\n')
    }
    if (!args.quiet || report.status !== 'ok') io.stderr.write(formatReport(report))
    if (report.status === 'aborted') return EXIT.interrupted
    return report.status === 'ok' && !report.checkpoint?.error ? EXIT.ok : EXIT.failures
  } finally {
    for (const close of closers.reverse()) await close()
  }
}

/**
 * The whole CLI: parses `argv`, runs the command and resolves with the exit code (0 ok, 1 some
 * events failed, 2 usage or configuration error, 130 interrupted). Never calls process.exit.
 */
export async function cli(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok
  const args = withConfigResolved(argv, io.cwd)
  const parser = yargs(args)
    .scriptName('hydrate')
    .usage('$0 --source <uri> [--filter <pattern>]... [--sink <uri>] [options]\n\nRebuild a service\'s state from its event history.')
    .parserConfiguration({ 'camel-case-expansion': true, 'strip-dashed': true })
    .command(
      '$0',
      'read events from --source, keep those --filter selects, write them to --sink, and report',
      (y) =>
        y
          .option('source', { type: 'string', describe: 'where events come from: json:./events.ndjson, json:./events.json, json:./events/, json:-, dynamo:, opensearch:' })
          .option('sink', { type: 'string', default: 'ndjson:-', describe: 'where events go: ndjson:./out.ndjson, ndjson:- (stdout), postgres:, mssql:, dynamo:, opensearch:, lambda:, lambda-local:, eventbridge:' })
          .option('filter', { type: 'string', array: true, describe: 'EventBridge event pattern (file or inline JSON); several mean any of them' })
          .option('transform', { type: 'string', describe: 'module whose default export maps an event (undefined drops it, an array fans out)' })
          .option('dry-run', { type: 'boolean', describe: 'read and filter for real, write nothing, report what would be written' })
          .option('report', { choices: ['text', 'json'] as const, default: 'text' as const, describe: 'json prints the run report as JSON on stdout' })
          .option('report-file', { type: 'string', describe: 'also write the JSON report to this file' })
          .option('limit', { type: 'number', describe: 'stop after this many matched events' })
          .option('batch-size', { type: 'number', describe: 'events per write request (sink default otherwise)' })
          .option('max-failures', { type: 'string', describe: 'stop the run (status failed) after this many failures, or this share of the events read (5%)' })
          .option('checkpoint', { type: 'string', describe: 'record progress in this file and resume from it when it exists (one run at a time: <file>.lock)' })
          .option('checkpoint-interval', { type: 'number', describe: 'milliseconds between checkpoint writes (default 5000; appends and invocations also write after every batch)' })
          .option('dead-letter', { type: 'string', describe: 'append every failed event to this NDJSON file (itself a valid --source for a redrive)' })
          .option('concurrency', { type: 'number', describe: 'writes or invocations in flight (events with one --order-key stay in order)' })
          .option('order-key', { type: 'string', describe: 'JSON path whose value keeps events in order under --concurrency, e.g. detail.aggregateId' })
          .option('rate', { type: 'string', describe: 'pace the sink, e.g. 50/s or 3000/m' })
          .option('plugin', { type: 'string', array: true, describe: 'module adding source/sink schemes (repeatable)' })
          .config('config', 'hydrate.config.json or .mjs holding any of these options', readConfig)
          .option('quiet', { type: 'boolean', describe: 'no progress line; the summary only when something failed' })
          .option('prefilter', { type: 'boolean', default: true, describe: 'skip NDJSON lines that provably cannot match without parsing them (--no-prefilter to parse every line)' })
          .group(['column', 'key', 'version-column', 'delete-when', 'table'], 'Storage mapping (postgres:, mssql:, dynamo:, opensearch:):')
          .option('column', { type: 'string', array: true, describe: 'name=json.path (repeatable); objects become JSON; body=. stores the whole event' })
          .option('key', { type: 'string', describe: 'key column(s): id or tenant,id' })
          .option('version-column', { type: 'string', describe: 'mapped column whose higher value wins; older or equal versions are skipped' })
          .option('delete-when', { type: 'string', describe: 'EventBridge pattern (file or inline JSON): matching events delete their row' })
          .option('table', { type: 'string', describe: 'target table (or ?table= in the sink URI)' })
          .group(['replay-name', 'envelope', 'max-buffered', 'retry-attempts', 'retry-max-delay'], 'Delivery (lambda:, lambda-local:, eventbridge:):')
          .option('replay-name', { type: 'string', describe: 'replay-name marking hydration events (default event-hydrator; --no-replay-name for none)' })
          .option('envelope', { type: 'string', describe: 'EventBridge envelope mapping for other event shapes (file or inline JSON), e.g. {"detail-type":"EventType","time":"Timestamp","detail":"Data"}' })
          .option('max-buffered', { type: 'number', describe: 'events waiting for their ordered lane at most (bounded memory under --order-key)' })
          .option('retry-attempts', { type: 'number', describe: 'attempts per write, the first included (default 8)' })
          .option('retry-max-delay', { type: 'number', describe: 'longest backoff delay in ms (default 20000)' })
          .example('$0 --source json:./events.ndjson --filter rule.json --sink ndjson:./out.ndjson', 'filter NDJSON into a file')
          .example("$0 --source json:./events/ --sink 'postgres://app@localhost/db?table=users' --key id --column id=detail.id --column version=detail.version --version-column version", 'hydrate a table'),
      async (args) => {
        code = await runCommand(args as unknown as RunArgs, io)
      },
    )
    .command(patternCommands(io, (c) => (code = c)))
    .strict()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new HydratorError('ERR_USAGE', message)
    })

  let helpOutput = ''
  try {
    await parser.parseAsync(args, {}, (err, _argv, output) => {
      if (output && !err) helpOutput = output
    })
    if (helpOutput) io.stdout.write(helpOutput + '\n')
    return code
  } catch (error) {
    if (error instanceof HydratorError && !isConfigError(error) && error.code !== 'ERR_TOO_MANY_FAILURES') {
      io.stderr.write(`hydrate: ${error.code}: ${error.message}\n`)
      return EXIT.failures
    }
    if (error instanceof HydratorError || (error as { name?: string })?.name === 'YError') {
      const codeText = error instanceof HydratorError ? `${error.code}: ` : ''
      io.stderr.write(`hydrate: ${codeText}${redactSecrets(errorMessage(error))}\n`)
      if ((error as { name?: string })?.name === 'YError') io.stderr.write('Run `hydrate --help` for the options.\n')
      return EXIT.usage
    }
    // Not ours, so not redacted yet: a client's error may quote a connection string.
    io.stderr.write(`hydrate: unexpected error: ${redactSecrets((error as Error)?.stack ?? String(error))}\n`)
    return EXIT.failures
  }
}
