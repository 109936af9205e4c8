import { HydratorError, errorMessage } from '../errors.js'
import { collapseByKey, compileMapping, type Mapping, type RowWrite } from '../mapping.js'
import type { Sink } from '../types.js'
import { assertInteger, assertString } from '../util/options.js'
import { retryReason, validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import { defineSink, withSinkInfo, type DriverContext, type SinkOptions, type WriteOutcome } from '../define-sink.js'
import { PARKED } from '../sink-driver.js'
import { clientUri, type PostgresClient } from './client.js'
import { copyRows } from './copy.js'
import { columnArrays, toText, type PgWrite } from './encode.js'
import { configError, connectionError, isAmbiguousLoss, isRetryable, isRowRejection, isThrottle, rejectionMessage } from './errors.js'
import { inspectTable, parseTableName } from './inspect.js'
import { postgresPlanner } from './plan.js'
import { closeStalled, postgresSocket } from './socket.js'
import { buildStatements, type Target } from './statements.js'
import { openPostgresRebuild, postgresRebuild } from './rebuild.js'
import { rebuildOptionsOf, type RebuildOptions } from '../rebuild.js'


/** How rows reach the table. */
export type PostgresWriteMode = 'upsert' | 'append'

/** Options of {@link toPostgres}. */
export interface ToPostgresOptions extends SinkOptions {
  /**
   * A `postgres()` client; the sink uses it and never ends it. Make it with
   * `{ socket: postgresSocket }` (TCP_NODELAY): without, every batch waits ~40 ms on delayed ACKs.
   */
  readonly sql: PostgresClient
  /** The table, optionally schema-qualified: `users`, `app.users`, `"My Schema"."Users"`. */
  readonly table: string
  /** How events become rows: columns, key, optional version column and delete pattern. */
  readonly mapping: Mapping
  /**
   * `upsert`: one `INSERT ... ON CONFLICT (key) DO UPDATE` per batch (needs a primary key or unique
   * index on exactly the key columns), versions guarded, deletes applied. `append`: plain inserts
   * through `COPY ... FROM STDIN`, no key needed in the table, no deletes.
   * @default 'upsert'
   */
  readonly mode?: PostgresWriteMode
  /** Events per statement (per COPY in append mode). @default 500; 1000 in append mode */
  readonly batchSize?: number
  /** Retries of a batch after a lost connection, a deadlock or a serialization failure. @default 8 attempts */
  readonly retry?: RetryPolicy
  /** The URI shown in the report (password already redacted). @default built from the client's options */
  readonly uri?: string
  /**
   * How long a batch may wait for PostgreSQL's answer: a connection silent for this long while a
   * statement (or COPY, or COMMIT) is outstanding is closed, and the batch goes on like after any
   * lost connection: an upsert is retried; in append mode a lost COMMIT is settled by asking
   * PostgreSQL whether the transaction committed (txid_status) before anything is retried. Without
   * it, a stalled connection (a network partition, a hung proxy) can hold a run forever. Needs a
   * client made with `{ socket: postgresSocket }` over plain TCP (not TLS).
   * @default undefined (no limit)
   */
  readonly timeoutMs?: number
  /**
   * Dry runs: how many keys the plan remembers the planned state of, so that a key planned again is
   * judged against its planned write; past it the oldest are forgotten and the plan is marked not exact.
   * @default 1_000_000
   */
  readonly maxPlannedKeys?: number
  /**
   * Write into a fresh copy of the table, `<table>__rebuild_<id>` (created like it: columns,
   * defaults, constraints, indexes, foreign keys, grants), and offer the swap as `sink.rebuild`
   * (`hydrate()` swaps when the run ends ok). `true` picks a random id. See lib/postgres/rebuild.ts.
   * @default undefined (write into the table itself)
   */
  readonly rebuild?: RebuildOptions | boolean
}

/**
 * Writes events as rows of a PostgreSQL table through a `postgres()` client: upserts (one statement
 * per batch, versions guarded, deletes for events matching `mapping.deleteWhen`) or appends (COPY).
 * The table, every mapped column and the unique index for the key are checked before any event is
 * read (ERR_TARGET_NOT_FOUND, ERR_TARGET_SCHEMA, ERR_AUTH). A row the database rejects fails alone
 * (ERR_WRITE_REJECTED with its key and PostgreSQL's message); the rest of its batch is written. A
 * lost connection retries the batch, whose transaction guarantees it is never half applied. Skips
 * say why: `stale` (an older or equal version), `duplicateInBatch` (a same-key event superseded in
 * its batch), `deleteOfMissing` (a delete of a row that is not there). A dry run reads the stored
 * rows of each batch's keys and plans what the real run would do (`sink.plan`). Objects and arrays
 * go to json/jsonb columns as JSON; `.` maps the whole event.
 *
 * @example
 * import postgres from 'postgres'
 * import { toPostgres, postgresSocket } from 'event-hydrator/postgres'
 * const sql = postgres('postgres://app@localhost/app', { socket: postgresSocket })
 * const result = await pipe(
 *   readJsonLines('events.ndjson'),
 *   toPostgres({
 *     sql,
 *     table: 'orders',
 *     mapping: { columns: { id: 'detail.orderId', version: 'detail.version', doc: 'detail' }, key: ['id'], versionColumn: 'version' },
 *   }),
 * )
 * await sql.end()
 */
export function toPostgres<In = unknown>(options: ToPostgresOptions): Sink<In> {
  if (!options || typeof options !== 'object') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected an options object with \`sql\`, \`table\` and \`mapping\`, got \`${String(options)}\``)
  }
  const { sql } = options
  if (!sql || typeof sql.unsafe !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`sql\` to be a client made by \`postgres()\`, got \`${describe(sql)}\``)
  }
  const tableName = parseTableName(assertString('table', options.table))
  const mode = options.mode ?? 'upsert'
  if (mode !== 'upsert' && mode !== 'append') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`mode\` to be \`upsert\` or \`append\`, got \`${String(mode)}\``)
  }
  const compiled = compileMapping(options.mapping)
  const { mapping, columnNames } = compiled
  if (mode === 'append' && mapping.deleteWhen !== undefined) {
    throw new HydratorError('ERR_INVALID_OPTION', 'append mode cannot delete rows: drop the delete pattern (`--delete-when`) or use mode upsert')
  }
  if (mode === 'append' && typeof (sql as Partial<PostgresClient>).reserve !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', 'append mode needs `sql.reserve()` (postgres 3.4 or later)')
  }
  const retry = validateRetryPolicy(options.retry)
  const timeoutMs = options.timeoutMs === undefined ? undefined : assertInteger('timeoutMs', options.timeoutMs, 1)
  const maxPlannedKeys = options.maxPlannedKeys === undefined ? undefined : assertInteger('maxPlannedKeys', options.maxPlannedKeys, 1)
  const rebuild = rebuildOptionsOf(options.rebuild)
  if (timeoutMs !== undefined) {
    const clientOptions = (sql as { options?: { socket?: unknown; ssl?: unknown } }).options
    if (clientOptions?.socket !== postgresSocket) {
      throw new HydratorError('ERR_INVALID_OPTION', '`timeoutMs` needs a client made with `postgresClient(url)` (or `postgres(url, { socket: postgresSocket })`): the sink closes stalled connections through it')
    }
    if (clientOptions.ssl) {
      throw new HydratorError('ERR_INVALID_OPTION', '`timeoutMs` does not work over TLS yet: leave it out, or set `statement_timeout` and TCP keepalives on the client')
    }
  }
  /**
   * Runs `work` (one statement, one COPY with its COMMIT) while checking the client's sockets: one
   * that has waited `timeoutMs` for an answer is closed, so `work` fails with ETIMEDOUT like after
   * any lost connection instead of waiting forever.
   */
  const deadline = <T>(work: () => Promise<T>): Promise<T> => {
    if (timeoutMs === undefined) return work()
    const clientOptions = (sql as { options?: object }).options!
    const timer = setInterval(() => closeStalled(clientOptions, timeoutMs), Math.max(5, Math.floor(timeoutMs / 4)))
    return work().finally(() => clearInterval(timer))
  }
  const keyIndexes = mapping.key.map((k) => columnNames.indexOf(k))
  const versionIndex = mapping.versionColumn === undefined ? -1 : columnNames.indexOf(mapping.versionColumn)
  const uri = options.uri ?? clientUri(sql, options.table)

  let target: Target | undefined
  // A dry run of a copy not created yet plans against an empty table: that is what the copy starts as.
  let planEmpty = false
  const rebuildInfo = rebuild ? postgresRebuild(sql, tableName, options.table, rebuild, retry) : undefined
  const keyOf = (row: RowWrite) => Object.fromEntries(mapping.key.map((k, i) => [k, row.key[i]]))
  const call = (context: DriverContext) => ({
    isRetryable,
    onRetry: (reason: string) => context.retried(reason),
    reasonOf: retryReason,
    signal: context.signal,
    isThrottle,
    throttle: context.throttle,
  })

  /**
   * Runs one statement for a set of writes with distinct keys and says how each ended. One
   * statement is one transaction: deletes and upserts of a batch share it (data-modifying CTEs).
   */
  const execute = async (writes: readonly PgWrite[], insertOnly: boolean): Promise<WriteOutcome[]> => {
    const t = target!
    const all = t.columns.map((_, i) => i)
    if (insertOnly) {
      await sql.unsafe(t.statements.insert, columnArrays(writes, all), { prepare: true })
      return writes.map((w) => ({ status: 'written', key: keyOf(w.row) }))
    }
    const outcomes: WriteOutcome[] = new Array(writes.length)
    if (t.statements.mixed === undefined) {
      const rows = await sql.unsafe(t.statements.upsert, columnArrays(writes, all), { prepare: true })
      for (const r of rows) outcomes[Number(r.o) - 1] = { status: 'written', key: keyOf(writes[Number(r.o) - 1]!.row) }
    } else {
      const ups: number[] = []
      const dels: number[] = []
      writes.forEach((w, i) => (w.row.op === 'delete' ? dels : ups).push(i))
      const parameters = [
        ...columnArrays(dels.map((i) => writes[i]!), t.statements.deleteColumns),
        ...columnArrays(ups.map((i) => writes[i]!), all),
      ]
      const rows = await sql.unsafe(t.statements.mixed, parameters, { prepare: true })
      for (const r of rows) {
        if (r.op === 'd') {
          const i = dels[Number(r.o) - 1]!
          // Not deleted: the version guard kept the row, or there was none (`present` reads the
          // snapshot from before the statement), and then the delete changed nothing.
          outcomes[i] = r.deleted
            ? { status: 'written', deleted: true, key: keyOf(writes[i]!.row) }
            : { status: 'skipped', reason: r.present === true ? 'stale' : 'deleteOfMissing', key: keyOf(writes[i]!.row) }
        } else {
          const i = ups[Number(r.o) - 1]!
          outcomes[i] = { status: 'written', key: keyOf(writes[i]!.row) }
        }
      }
    }
    // Upserts not returned: the version guard kept the stored row.
    for (let i = 0; i < writes.length; i++) outcomes[i] ??= { status: 'skipped', reason: 'stale', key: keyOf(writes[i]!.row) }
    return outcomes
  }

  /**
   * Writes `indexes` of `writes`, bisecting on a row the database rejects until only the culprits
   * fail; retries a lost connection. Fills `outcomes`.
   */
  const apply = async (
    writes: readonly PgWrite[],
    given: readonly number[],
    outcomes: WriteOutcome[],
    context: DriverContext,
    insertOnly: boolean,
  ): Promise<void> => {
    // Appends park within the batch (parksInBatch): a row whose key failed earlier is not sent, and
    // a row that fails marks its key at once, before any later row is tried (the halves below go in order).
    const parking = insertOnly ? context.parking : undefined
    let indexes: readonly number[] = given
    if (parking) {
      const kept: number[] = []
      for (const i of given) {
        if (parking.parked(i)) outcomes[i] = PARKED
        else kept.push(i)
      }
      indexes = kept
    }
    if (indexes.length === 0) return
    const failed = (i: number) => parking?.failed(i)
    try {
      // A plain INSERT commits by itself: after a loss that may have come after its commit, running
      // it again could insert the rows twice, so only losses that prove it did not run are retried.
      const policy = insertOnly ? { ...call(context), isRetryable: (e: unknown) => isRetryable(e) && !isAmbiguousLoss(e) } : call(context)
      const done = await withRetry(() => deadline(() => execute(indexes.map((i) => writes[i]!), insertOnly)), retry, policy)
      indexes.forEach((i, j) => (outcomes[i] = done[j]!))
    } catch (error) {
      if (insertOnly && isAmbiguousLoss(error)) {
        for (const i of indexes) {
          failed(i)
          outcomes[i] = {
            status: 'failed',
            code: 'ERR_CONNECTION',
            message: `the connection to ${target!.display} was lost during an INSERT that commits by itself (${errorMessage(error)}): the row may or may not be in the table; check before redriving it`,
            key: keyOf(writes[i]!.row),
          }
        }
        return
      }
      const config = configError(error, target?.display ?? options.table)
      if (config) throw config
      if (isRowRejection(error)) {
        if (indexes.length === 1) {
          const i = indexes[0]!
          failed(i)
          outcomes[i] = { status: 'failed', code: 'ERR_WRITE_REJECTED', message: rejectionMessage(error, target!.display), key: keyOf(writes[i]!.row), attempts: 1 }
          return
        }
        const middle = Math.ceil(indexes.length / 2)
        await apply(writes, indexes.slice(0, middle), outcomes, context, insertOnly)
        await apply(writes, indexes.slice(middle), outcomes, context, insertOnly)
        return
      }
      const attempts = (error as { attempts?: number }).attempts
      const exhausted = isRetryable(error)
      for (const i of indexes) {
        failed(i)
        outcomes[i] = {
          status: 'failed',
          code: exhausted ? 'ERR_RETRIES_EXHAUSTED' : 'ERR_WRITE_REJECTED',
          message: exhausted
            ? `gave up on ${target!.display} after ${attempts ?? 1} attempts: ${errorMessage(error)}`
            : `${target!.display}: ${errorMessage(error)}`,
          key: keyOf(writes[i]!.row),
          attempts,
        }
      }
    }
  }

  /** Upsert mode: collapse same-key writes, write the survivors; a rejected survivor lets the next one for its key try. */
  const writeUpserts = async (batch: readonly PgWrite[], context: DriverContext): Promise<WriteOutcome[]> => {
    const outcomes: WriteOutcome[] = new Array(batch.length)
    let candidates = batch.map((_, i) => i)
    while (candidates.length > 0) {
      const { survivors, survivorOf } = collapseByKey(candidates.map((i) => batch[i]!.row))
      await apply(batch, survivors.map((s) => candidates[s]!), outcomes, context, false)
      const next: number[] = []
      candidates.forEach((i, j) => {
        const survivor = candidates[survivorOf[j]!]!
        if (survivor === i) return
        const won = outcomes[survivor]!
        if (won.status !== 'failed') outcomes[i] = { status: 'skipped', reason: 'duplicateInBatch', key: keyOf(batch[i]!.row) }
        else if (won.code === 'ERR_WRITE_REJECTED') next.push(i)
        else outcomes[i] = { ...won, key: keyOf(batch[i]!.row) }
      })
      candidates = next
    }
    return outcomes
  }

  /** Append mode: one COPY in a transaction; if PostgreSQL rejects it, the batch goes through INSERTs to find the culprits. */
  const writeAppend = async (batch: readonly PgWrite[], context: DriverContext): Promise<WriteOutcome[]> => {
    let copied: boolean
    try {
      copied = await withRetry(() => deadline(() => copyRows(sql, target!, batch, retry)), retry, call(context))
    } catch (error) {
      if (error instanceof HydratorError && error.code === 'ERR_CONNECTION') {
        // The COMMIT's outcome is unknown: fail the batch rather than risk writing it twice.
        return batch.map((w) => ({ status: 'failed', code: 'ERR_CONNECTION', message: error.message, key: keyOf(w.row) }))
      }
      const config = configError(error, target!.display)
      if (config) throw config
      if (!isRowRejection(error)) {
        const attempts = (error as { attempts?: number }).attempts
        return batch.map((w) => ({
          status: 'failed',
          code: isRetryable(error) ? 'ERR_RETRIES_EXHAUSTED' : 'ERR_WRITE_REJECTED',
          message: `${target!.display}: ${errorMessage(error)}`,
          key: keyOf(w.row),
          attempts,
        }))
      }
      copied = false
    }
    // Only failures carry keys to the report: every copied row shares one outcome.
    if (copied) return new Array<WriteOutcome>(batch.length).fill(WRITTEN)
    const outcomes: WriteOutcome[] = new Array(batch.length)
    await apply(batch, batch.map((_, i) => i), outcomes, context, true)
    return outcomes
  }

  const planner = postgresPlanner({
    mode,
    columnNames,
    keyIndexes,
    versionColumn: mapping.versionColumn,
    keyObject: keyOf,
    statements: () => target!.statements,
    maxKeys: maxPlannedKeys,
    previewRows: options.previewLimit ?? 5,
    async query(text, parameters, context) {
      if (planEmpty) return []
      try {
        return await withRetry(() => deadline(async () => sql.unsafe(text, parameters, { prepare: true })), retry, call(context))
      } catch (error) {
        const config = configError(error, target!.display)
        if (config) throw config
        if (!isRetryable(error)) throw error
        const attempts = (error as { attempts?: number }).attempts
        throw new HydratorError('ERR_RETRIES_EXHAUSTED', `gave up reading ${target!.display} after ${attempts ?? 1} attempts: ${errorMessage(error)}`, { cause: error })
      }
    },
    rejection: (error) => (isRowRejection(error) ? rejectionMessage(error, target!.display) : undefined),
  })

  const sink = defineSink<In, PgWrite>(
    {
      uri,
      async open(context) {
        planner.reset()
        const table = await withRetry(
          () => deadline(() => inspectTable(sql, tableName, options.table, compiled, mode === 'upsert')),
          { ...retry, attempts: Math.min(retry.attempts, 3) },
          call(context),
        ).catch((error: unknown) => {
          throw configError(error, options.table) ?? connectionError(error, uri)
        })
        let written = table
        if (rebuild) {
          const copy = await withRetry(() => deadline(() => openPostgresRebuild(sql, tableName, rebuild, context.dryRun, rebuildInfo!)), { ...retry, attempts: Math.min(retry.attempts, 3) }, call(context)).catch(
            (error: unknown) => {
              throw configError(error, options.table) ?? connectionError(error, uri)
            },
          )
          planEmpty = !copy.exists
          written = { ...table, qualified: copy.qualified, display: copy.display }
        }
        target = { ...written, statements: buildStatements(written.qualified, written.columns, keyIndexes, versionIndex, mapping.deleteWhen !== undefined) }
      },
      prepare(event) {
        const row = compiled.toRow(event)
        const columns = target!.columns
        const values = row.row
        const texts: (string | null)[] = new Array(columnNames.length)
        let i = 0
        try {
          for (; i < texts.length; i++) texts[i] = toText(values[columnNames[i]!], columns[i]!.kind)
        } catch (error) {
          const name = columnNames[i]!
          throw new HydratorError('ERR_MAPPING', `column \`${name}\` (${mapping.columns[name]}): ${errorMessage(error)}`)
        }
        return { row, texts }
      },
      keyOf: (write) => write.row.keyString,
      // Upserts collapse same-key writes of a batch (writeUpserts), and appends park within it (apply):
      // parking need not split batches.
      collapsesByKey: mode === 'upsert',
      parksInBatch: mode === 'append',
      sizeOf: (write) => write.texts.reduce((n, t) => n + (t === null ? 1 : t.length + 3), 0),
      // A dry run reads the table and plans each batch as the write below would apply it.
      plan: (batch, context) => planner.plan(batch, context),
      planIsExact: () => planner.exact,
      write: (batch, context) => (mode === 'append' ? writeAppend(batch, context) : writeUpserts(batch, context)),
    },
    // COPY rows are cheap: append batches are larger (measured: 1000 beat 500 and 2000).
    { batchSize: mode === 'append' ? 1000 : 500, ...options },
  )
  // An append repeated after a crash inserts its rows again: checkpoint after every batch.
  return withSinkInfo(sink, { ...(mode === 'append' ? { checkpointEveryBatch: true } : {}), ...(rebuildInfo ? { rebuild: rebuildInfo } : {}) })
}

const WRITTEN: WriteOutcome = Object.freeze({ status: 'written' })

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value)
  if (typeof value === 'object') return value.constructor?.name ?? 'object'
  return typeof value
}
