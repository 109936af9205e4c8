import { existsSync, readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import yargs, { type Argv } from 'yargs'
import { HydratorError, errorMessage, isConfigError } from '../lib/errors.js'
import { formatReport } from '../lib/report/format.js'
import type { RunReport } from '../lib/report/report.js'
import { redactSecrets } from '../lib/util/redact.js'
import { nearNames } from '../lib/util/near.js'
import { stringifyTagged } from '../lib/util/tagged-json.js'
import { EXIT, type CliIo } from './io.js'
import { hydrate } from '../lib/hydrate.js'
import { patternCommands } from './pattern.js'
import { reportCommands } from './report.js'
import { planCommand } from './plan.js'
import { startProgress } from './progress.js'
import { completeMainCommand, completionScript } from './completion.js'

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
  checkpointLease?: number
  share?: string
  deadLetter?: string
  plugin?: string[]
  config?: string
  quiet?: boolean
  column?: string[]
  key?: string
  versionColumn?: string
  deleteWhen?: string
  table?: string
  rebuild?: boolean
  keepOld?: boolean
  concurrency?: number
  orderKey?: string
  onKeyFailure?: 'park' | 'continue'
  maxFailedKeys?: number
  rate?: string
  maxRate?: string
  orderBy?: string
  orderMissing?: 'fail' | 'first' | 'last'
  sortMemory?: string
  tempDir?: string
  replayName?: string
  retryAttempts?: number
  retryMaxDelay?: number
  prefilter?: boolean
  [key: string]: unknown
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
      // Relative to the file itself (absolute by now): the bundled CLI has no import.meta.url.
      mod = createRequire(file)(file) as Record<string, unknown>
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

async function runCommand(args: RunArgs, io: CliIo): Promise<number> {
  if (args.report === 'json' && !args.reportFile && /^(ndjson|json|jsonl):-$/.test(args.sink)) {
    throw new HydratorError('ERR_USAGE', '--report json prints to stdout, where the sink writes events too: add --report-file report.json or a file sink')
  }
  const progress = !args.quiet && io.stderr.isTTY ? startProgress(io.stderr) : undefined
  let report: RunReport
  try {
    // The flags are hydrate()'s options, camel-cased: the CLI adds only where output goes.
    report = await hydrate({
      ...args,
      source: args.source!,
      sink: args.sink,
      plugins: args.plugin ?? [],
      env: io.env,
      cwd: io.cwd,
      stdin: io.stdin,
      stdout: io.stdout,
      ...(io.signal ? { signal: io.signal } : {}),
      ...(progress ? { onProgress: progress.update } : {}),
    })
  } finally {
    progress?.stop()
  }
  const ck = report.checkpoint
  if (ck?.alreadyComplete) {
    const t = ck.totals
    const failed = t.failed + t.sourceFailed
    io.stderr.write(
      `hydrate: the checkpoint ${args.checkpoint} says this run already completed (${t.read} events read, ${t.written} written, ` +
        `${t.skipped} skipped, ${failed} failed${failed > 0 ? ', kept in the dead-letter file' : ''}); delete it to run again\n`,
    )
    // --rebuild: a swap the run before did not get to is made now.
    if (report.rebuild) io.stderr.write(`rebuild: ${report.rebuild.message}\n`)
    return failed > 0 || report.status === 'failed' ? EXIT.failures : EXIT.ok
  }
  // The report file's folder is made; a report that cannot be written is said, and the run's
  // summary still goes to stderr (the exit code says failures).
  let reportLost = false
  const writeReport = async (file: string, text: string) => {
    const target = path.resolve(io.cwd, file)
    try {
      await mkdir(path.dirname(target), { recursive: true })
      await writeFile(target, text)
    } catch (error) {
      reportLost = true
      io.stderr.write(`hydrate: cannot write the report to ${file}: ${errorMessage(error)}\n`)
    }
  }
  if (args.report === 'json') {
    const text = stringifyTagged(report, 2) + '\n'
    if (args.reportFile) await writeReport(args.reportFile, text)
    else io.stdout.write(text)
  } else if (args.reportFile) {
    await writeReport(args.reportFile, stringifyTagged(report, 2) + '\n')
  }
  // The reader of stdout went away (`| head`): stop quietly, as grep does.
  if (io.stdoutClosed?.()) return EXIT.brokenPipe
  if (!args.quiet || report.status !== 'ok') io.stderr.write(formatReport(report))
  if (report.rebuild && (!args.quiet || report.rebuild.state !== 'swapped')) io.stderr.write(`rebuild: ${report.rebuild.message}\n`)
  if (report.status === 'aborted') return EXIT.interrupted
  return report.status === 'ok' && !ck?.error && !reportLost ? EXIT.ok : EXIT.failures
}

/** Set by the build (tsup.config.ts, scripts/build-sea.mjs); undefined under tsx. */
declare const __HYDRATE_VERSION__: string | undefined

/** event-hydrator's own version (not that of the package.json in the current folder). */
function ownVersion(): string {
  if (typeof __HYDRATE_VERSION__ === 'string') return __HYDRATE_VERSION__
  // Found by walking up from this module: cli/app.ts in the repository, dist/cli/main.js installed.
  for (let dir = path.dirname(fileURLToPath(import.meta.url)), i = 0; i < 5; i++, dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json')
    if (!existsSync(file)) continue
    try {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'event-hydrator' && pkg.version) return pkg.version
    } catch {
      // not ours: keep looking
    }
  }
  return 'unknown'
}

/** ` (did you mean --source?)` for each unknown flag yargs names that is close to a known one. */
function suggestFlags(message: string, parser: { getOptions(): { key: Record<string, unknown> } }): string {
  const m = /^Unknown arguments?: (.+)$/.exec(message)
  if (!m) return ''
  const known = Object.keys(parser.getOptions().key).filter((k) => k.length > 1 && !/[A-Z]/.test(k))
  const hints = m[1]!
    .split(', ')
    .map((unknown) => {
      const near = nearNames(unknown, known, 1)[0]
      return near ? `--${unknown}: did you mean --${near}?` : undefined
    })
    .filter(Boolean)
  return hints.length ? ` (${hints.join('; ')})` : ''
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
          .option('source', { type: 'string', describe: 'where events come from: json:./events.ndjson, json:./events.json, json:./events/, json:-, dynamo:, opensearch:, s3://bucket/prefix' })
          .option('sink', { type: 'string', default: 'ndjson:-', describe: 'where events go: ndjson:./out.ndjson, ndjson:- (stdout), postgres:, mssql:, dynamo:, opensearch:, s3://bucket/prefix, lambda:, lambda-local:, eventbridge:' })
          .option('filter', { type: 'string', array: true, describe: 'EventBridge event pattern (file or inline JSON); several mean any of them' })
          .option('transform', { type: 'string', describe: 'module whose default export maps an event (undefined drops it, an array fans out)' })
          .option('dry-run', { type: 'boolean', describe: 'read and filter for real, write nothing; storage sinks read the target (read-only) and report the plan: what would be inserted, updated, skipped and deleted' })
          .option('report', { choices: ['text', 'json'] as const, default: 'text' as const, describe: 'json prints the run report as JSON on stdout' })
          .option('report-file', { type: 'string', describe: 'also write the JSON report to this file' })
          .option('limit', { type: 'number', describe: 'stop after this many matched events' })
          .option('batch-size', { type: 'number', describe: 'events per write request (sink default otherwise)' })
          .option('max-failures', { type: 'string', describe: 'stop the run (status failed) after this many failures, or this share of the events read (5%)' })
          .option('checkpoint', { type: 'string', describe: 'record progress here and resume from it: a file (one run at a time: <file>.lock), dynamo:<table>/<run-id> or s3://<bucket>/<key> (one worker at a time: a lease)' })
          .option('checkpoint-lease', { type: 'number', describe: 'dynamo:/s3: checkpoints: ms a lease lasts unless renewed (default 60000): a worker that died frees its share after this' })
          .option('share', { type: 'string', describe: 'run one share of a split run: one element of what `hydrate plan --shares N` printed (JSON)' })
          .option('checkpoint-interval', { type: 'number', describe: 'milliseconds between checkpoint writes (default 5000; appends and invocations also write after every batch)' })
          .option('dead-letter', { type: 'string', describe: 'append every failed event to this NDJSON file (itself a valid --source for a redrive)' })
          .option('concurrency', { type: 'number', describe: 'writes or invocations in flight (events with one --order-key stay in order)' })
          .option('order-key', { type: 'string', describe: 'JSON path whose value keeps events in order under --concurrency, e.g. detail.aggregateId' })
          .option('on-key-failure', { choices: ['park', 'continue'] as const, describe: "once an event of a key (--order-key, else the mapping's --key) fails: park its later events in the dead-letter file behind it, in order (the default), or continue sending them" })
          .option('max-failed-keys', { type: 'number', describe: 'parking: failed keys held at most (default 100000); past it the run stops (ERR_TOO_MANY_FAILED_KEYS)' })
          .option('rate', { type: 'string', describe: 'pace the sink, e.g. 50/s or 3000/m; auto: start modestly, grow while writes succeed, back off when the target throttles' })
          .option('max-rate', { type: 'string', describe: 'with --rate auto: the ceiling, e.g. 500/s' })
          .option('plugin', { type: 'string', array: true, describe: 'module adding source/sink schemes (repeatable)' })
          .config('config', 'hydrate.config.json or .mjs holding any of these options', readConfig)
          .option('quiet', { type: 'boolean', describe: 'no progress line; the summary only when something failed' })
          .option('prefilter', { type: 'boolean', default: true, describe: 'skip NDJSON lines that provably cannot match without parsing them (--no-prefilter to parse every line)' })
          .group(['order-by', 'order-missing', 'sort-memory', 'temp-dir'], 'Sorting (any source):')
          .option('order-by', { type: 'string', describe: 'sort events by these JSON paths before the filter, e.g. time or detail.sequence,id: stable; numbers as numbers, ISO-8601 times as instants, other strings by code point' })
          .option('order-missing', { choices: ['fail', 'first', 'last'] as const, describe: 'events without the --order-by key: fail them (ERR_ORDER_KEY_MISSING, the default) or sort them first or last' })
          .option('sort-memory', { type: 'string', describe: 'memory for sorting before sorted runs are spilled to --temp-dir (default 256MB)' })
          .option('temp-dir', { type: 'string', describe: 'folder for the sorted runs (default the system temp folder; removed at the end)' })
          .group(['column', 'key', 'version-column', 'delete-when', 'table', 'rebuild', 'keep-old'], 'Storage mapping (postgres:, mssql:, dynamo:, opensearch:):')
          .option('column', { type: 'string', array: true, describe: 'name=json.path (repeatable); objects become JSON; body=. stores the whole event' })
          .option('key', { type: 'string', describe: 'key column(s): id or tenant,id' })
          .option('version-column', { type: 'string', describe: 'mapped column whose higher value wins; older or equal versions are skipped' })
          .option('delete-when', { type: 'string', describe: 'EventBridge pattern (file or inline JSON): matching events delete their row' })
          .option('table', { type: 'string', describe: 'target table (or ?table= in the sink URI)' })
          .option('rebuild', { type: 'boolean', describe: 'write into a fresh copy of the target (<table>__rebuild_<run>) and swap it in at once when the run ends ok (DynamoDB: write a new table)' })
          .option('keep-old', { type: 'boolean', describe: 'with --rebuild: keep the replaced table or index as <name>__old_<yyyymmddhhmmss> instead of dropping it' })
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
    .command(reportCommands(io, (c) => (code = c)))
    .command(planCommand(io, (c) => (code = c)))
    // bash, or zsh when $SHELL or $ZSH_NAME says zsh: `hydrate completion >> ~/.bashrc`.
    .completion('completion', 'print a shell completion script (bash; zsh when $SHELL is zsh): hydrate completion >> ~/.bashrc', completeMainCommand((): Argv => parser as unknown as Argv, args, io.env))
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(ownVersion())
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new HydratorError('ERR_USAGE', message)
    })

  let helpOutput = ''
  try {
    if (args.length === 1 && args[0] === 'completion') {
      io.stdout.write(await completionScript())
      return EXIT.ok
    }
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
      io.stderr.write(`hydrate: ${codeText}${redactSecrets(errorMessage(error))}${suggestFlags(errorMessage(error), parser as unknown as { getOptions(): { key: Record<string, unknown> } })}\n`)
      if ((error as { name?: string })?.name === 'YError') io.stderr.write('Run `hydrate --help` for the options.\n')
      return EXIT.usage
    }
    // Not ours, so not redacted yet: a client's error may quote a connection string.
    io.stderr.write(`hydrate: unexpected error: ${redactSecrets((error as Error)?.stack ?? String(error))}\n`)
    return EXIT.failures
  }
}
