import type { ConnectionPool, IResult, ISqlType, Request, Transaction } from 'mssql'
import { HydratorError, errorMessage, isConfigError } from '../errors.js'
import { collapseByKey, compileMapping, type Mapping, type RowWrite } from '../mapping.js'
import type { Sink } from '../types.js'
import { assertInteger } from '../util/options.js'
import { validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import { rebuildName, rebuildOptionsOf, type RebuildOptions } from '../rebuild.js'
import { openSqlServerRebuild, sqlServerRebuild } from './rebuild.js'
import { defineSink, withSinkInfo, type DriverContext, type SinkOptions, type WriteOutcome } from '../define-sink.js'
import { NUMERIC_TYPES, encodeValue, type Mssql, type TargetColumn } from './encode.js'
import { CommitUnknownError, asHydratorError, describeSqlServerError, isThrottle, isTransient, rejectionMessage, retryReasonOf } from './errors.js'
import { nearNames, orList } from '../util/near.js'
import { sqlServerPlanner } from './plan.js'
import { METADATA_SQL, TABLES_SQL, chunked, parseTableName, quoteIdentifier, sqlStatements, type Statement } from './statements.js'

/**
 * What the sink needs of an `mssql` ConnectionPool (`new sql.ConnectionPool(config)`, connected).
 * Give the pool an `error` listener: tedious reports some dropped connections as pool events.
 *
 * @example
 * const pool: SqlServerPool = await new sql.ConnectionPool(config).connect()
 */
export type SqlServerPool = Pick<ConnectionPool, 'request' | 'transaction'>

/** Options of {@link toSqlServer}. */
export interface ToSqlServerOptions extends SinkOptions {
  /** A connected `mssql` ConnectionPool; the sink never closes it. It needs `concurrency` connections. */
  readonly pool: SqlServerPool
  /** The target table, `schema.table` (`dbo.users`, `[my schema].[my table]`); a bare name means `dbo`. */
  readonly table: string
  /** How events become rows: columns, key, optional version column and delete pattern. */
  readonly mapping: Mapping
  /**
   * `upsert`: MERGE on the key, guarded by the version column when there is one. `append`: INSERT
   * every event as a new row (no key lookup, no deletes, no version guard).
   * @default 'upsert'
   */
  readonly mode?: 'upsert' | 'append'
  /** Events per batch; one transaction per batch, split into statements of at most 2,098 parameters. @default 200 */
  readonly batchSize?: number
  /** How lost connections, deadlocks and throttling are retried. @default 8 attempts, 100 ms to 20 s */
  readonly retry?: RetryPolicy
  /** The URI shown in the report. @default `mssql:<schema>.<table>` */
  readonly uri?: string
  /**
   * Dry runs: how many keys the plan remembers the planned state of, so that a key planned again is
   * judged against its planned write; past it the oldest are forgotten and the plan is marked not exact.
   * @default 1_000_000
   */
  readonly maxPlannedKeys?: number
  /**
   * Write into a fresh copy of the table, `<table>__rebuild_<id>` (its columns, identity, defaults,
   * keys and checks), and offer the swap as `sink.rebuild` (`hydrate()` swaps when the run ends
   * ok). `true` picks a random id. See lib/mssql/rebuild.ts.
   * @default undefined (write into the table itself)
   */
  readonly rebuild?: RebuildOptions | boolean
}

/**
 * A sink that writes events as rows of a SQL Server table through an `mssql` pool. In `upsert` mode
 * each batch is one transaction of `MERGE ... WITH (HOLDLOCK)` statements keyed on the mapping's key:
 * a row is inserted, or updated when the event's version is higher than the row's (an equal or lower
 * version is skipped as `stale`), and events matching `deleteWhen` delete the row under the same
 * guard (a delete of a row that is not there is skipped as `deleteOfMissing`). Same-key events in a
 * batch are collapsed to the one sequential application would leave (the others are skipped as
 * `duplicateInBatch`); batches that share a key never run at once. A dry run reads the stored rows
 * of each batch's keys and plans what the real run would do (`sink.plan`). A row the server rejects
 * (NULL in a NOT NULL column, a CHECK, a conversion) becomes a failure with its key and SQL Server's
 * message while the rest of the batch is written; lost connections and deadlocks are retried with
 * backoff. `append` mode INSERTs every event. Values are typed parameters, never text in the statement.
 *
 * @example
 * const pool = await new sql.ConnectionPool(config).connect()
 * await pipe(readJsonLines('events.ndjson'), toSqlServer({
 *   pool, table: 'dbo.users',
 *   mapping: { columns: { id: 'detail.id', name: 'detail.name', version: 'detail.version' }, key: ['id'], versionColumn: 'version' },
 * }))
 */
export function toSqlServer(options: ToSqlServerOptions): Sink {
  if (!options || typeof options !== 'object') throw new HydratorError('ERR_INVALID_OPTION', 'toSqlServer needs an options object')
  const { pool } = options
  if (!pool || typeof pool.request !== 'function' || typeof pool.transaction !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', 'expected `pool` to be an mssql ConnectionPool (with request() and transaction())')
  }
  const { schema, table } = parseTableName(options.table)
  const rebuild = rebuildOptionsOf(options.rebuild)
  // --rebuild: the statements write the copy; the columns are read from the live table (the copy is made like it).
  const target = `${quoteIdentifier(schema)}.${quoteIdentifier(rebuild ? rebuildName(table, rebuild.id) : table)}`
  // A dry run of a copy not made yet plans against an empty table: that is what the copy starts as.
  let planEmpty = false
  const mode = options.mode ?? 'upsert'
  if (mode !== 'upsert' && mode !== 'append') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`mode\` to be 'upsert' or 'append', got \`${String(mode)}\``)
  }
  const compiled = compileMapping(options.mapping)
  const { mapping, columnNames } = compiled
  for (const name of columnNames) {
    if (name.length === 0 || name.length > 128) {
      throw new HydratorError('ERR_INVALID_OPTION', `column name \`${name}\` is not a SQL Server identifier (1 to 128 characters)`)
    }
  }
  if (mode === 'append' && mapping.deleteWhen !== undefined) {
    throw new HydratorError('ERR_INVALID_OPTION', 'append mode only inserts rows; `deleteWhen` (--delete-when) needs mode `upsert`')
  }
  if (mode === 'append' && mapping.versionColumn !== undefined) {
    throw new HydratorError('ERR_INVALID_OPTION', 'append mode inserts every event; a version column (--version-column) needs mode `upsert`')
  }
  const batchSize = assertInteger('batchSize', options.batchSize ?? 200, 1)
  const maxPlannedKeys = options.maxPlannedKeys === undefined ? undefined : assertInteger('maxPlannedKeys', options.maxPlannedKeys, 1)
  const retry = validateRetryPolicy(options.retry)
  const keyColumns = mapping.key
  const versionColumn = mapping.versionColumn
  const uri = options.uri ?? `mssql:${schema}.${table}`

  let sql: Mssql | undefined
  let columns = new Map<string, TargetColumn>()

  const keyObject = (w: RowWrite): Record<string, unknown> => Object.fromEntries(keyColumns.map((k, i) => [k, w.key[i]]))

  const statements = sqlStatements({
    target,
    columnNames,
    keyColumns,
    versionColumn,
    encode: (column, value) => encodeValue(sql!, columns.get(column.toLowerCase())!, value),
  })
  const { deleteColumns } = statements

  const run = async (request: Request, statement: Statement): Promise<IResult<Record<string, unknown>>> => {
    for (const p of statement.params) request.input(p.name, p.type as ISqlType, p.value)
    return request.query(statement.sql)
  }

  /**
   * Applies writes (distinct keys) in one transaction, retrying passing errors. Resolves with one
   * outcome per write; rejects when the transaction could not be committed.
   */
  const apply = async (writes: readonly RowWrite[], context: DriverContext): Promise<WriteOutcome[]> => {
    return withRetry(
      async () => {
        const outcomes: WriteOutcome[] = writes.map((w) => ({ status: 'written', key: keyObject(w) }))
        const tx: Transaction = pool.transaction()
        await tx.begin()
        let committing = false
        try {
          if (mode === 'append') {
            for (const chunk of chunked([...writes.keys()], columnNames.length)) {
              await run(tx.request(), statements.insert(chunk.map((i) => writes[i]!)))
            }
          } else {
            const upserts = [...writes.keys()].filter((i) => writes[i]!.op === 'upsert')
            const deletes = [...writes.keys()].filter((i) => writes[i]!.op === 'delete')
            for (const chunk of chunked(upserts, columnNames.length)) {
              const result = await run(tx.request(), statements.merge(chunk.map((i) => writes[i]!)))
              const applied = new Set((result.recordset ?? []).map((r) => Number(r.row)))
              chunk.forEach((i, r) => {
                // No OUTPUT row: the version guard kept the newer row (or there was nothing to update).
                if (!applied.has(r) && versionColumn !== undefined) outcomes[i] = { status: 'skipped', reason: 'stale', key: keyObject(writes[i]!) }
              })
            }
            for (const chunk of chunked(deletes, deleteColumns.length)) {
              const result = await run(tx.request(), statements.delete(chunk.map((i) => writes[i]!)))
              const sets = (result.recordsets ?? []) as unknown as Record<string, unknown>[][]
              const deleted = new Set((sets[0] ?? []).map((r) => Number(r.row)))
              const kept = new Set((sets[1] ?? []).map((r) => Number(r.row)))
              chunk.forEach((i, r) => {
                // Deleted (in the OUTPUT), kept by the version guard, or there was no row to delete,
                // and then the delete changed nothing.
                const key = keyObject(writes[i]!)
                outcomes[i] = deleted.has(r)
                  ? { status: 'written', key, deleted: true }
                  : { status: 'skipped', reason: kept.has(r) ? 'stale' : 'deleteOfMissing', key }
              })
            }
          }
          committing = true
          await tx.commit()
          return outcomes
        } catch (error) {
          if (!committing) await rollbackQuietly(tx)
          // Re-running an upsert is harmless (the version guard or the same values), so a commit whose
          // outcome is unknown is retried; re-running an append could insert the rows twice.
          if (committing && mode === 'append' && isTransient(error)) {
            throw new CommitUnknownError(
              `the connection was lost while committing; these rows may or may not have been inserted (append mode does not retry a commit): ${errorMessage(error)}`,
            )
          }
          throw error
        }
      },
      retry,
      { isRetryable: isTransient, onRetry: (reason) => context.retried(reason), signal: context.signal, reasonOf: retryReasonOf, isThrottle, throttle: context.throttle },
    )
  }

  /** Tables and views of the schema with a name like the one not found, as `schema.table`. */
  const nearTables = async (): Promise<string[]> => {
    const request = pool.request()
    request.input('schema', sql!.NVarChar(128), schema)
    const result = await request.query(TABLES_SQL)
    const names = (result.recordset ?? []).map((r: Record<string, unknown>) => String(r.TABLE_NAME))
    return nearNames(table, names).map((n) => `${schema}.${n}`)
  }

  const planner = sqlServerPlanner({
    mode,
    columnNames,
    keyColumns,
    versionColumn,
    keyObject,
    statement: statements.planRead,
    maxKeys: maxPlannedKeys,
    previewRows: options.previewLimit ?? 5,
    async query(statement, context) {
      if (planEmpty) return []
      try {
        const result = await withRetry(() => run(pool.request(), statement), retry, {
          isRetryable: isTransient,
          onRetry: (reason) => context.retried(reason),
          signal: context.signal,
          reasonOf: retryReasonOf,
        })
        return result.recordset ?? []
      } catch (error) {
        const fatal = asHydratorError(error, target)
        if (fatal) throw fatal
        if (!isTransient(error)) throw error
        const attempts = (error as { attempts?: number }).attempts
        throw new HydratorError('ERR_RETRIES_EXHAUSTED', `gave up reading ${target} after ${attempts} attempts: ${describeSqlServerError(error)}`, { cause: error })
      }
    },
    // What is neither passing nor a broken table or login is a key the column cannot take, as in a write.
    rejection: (error) => (error instanceof HydratorError ? undefined : rejectionMessage(error, target)),
  })

  const sink = defineSink<unknown, RowWrite>(
    {
      uri,
      async open(context) {
        planner.reset()
        sql = await loadMssql()
        let result: IResult<Record<string, unknown>>
        try {
          result = await withRetry(
            () => {
              const request = pool.request()
              request.input('schema', sql!.NVarChar(128), schema)
              request.input('table', sql!.NVarChar(128), table)
              return request.query(METADATA_SQL)
            },
            retry,
            { isRetryable: isTransient, onRetry: (reason) => context.retried(reason), signal: context.signal, reasonOf: retryReasonOf },
          )
        } catch (error) {
          throw asHydratorError(error, target) ?? new HydratorError('ERR_CONNECTION', `cannot read the columns of ${target}: ${errorMessage(error)}`, { cause: error })
        }
        const rows = result.recordset ?? []
        if (rows.length === 0) {
          const near = await nearTables().catch(() => [])
          const hint = near.length ? ` (did you mean ${orList(near.map((n) => `\`${n}\``))}?)` : ''
          throw new HydratorError('ERR_TARGET_NOT_FOUND', `table ${target} was not found (or the login cannot see it)${hint}; create it before hydrating`)
        }
        columns = new Map(rows.map((r) => [String(r.COLUMN_NAME).toLowerCase(), { name: String(r.COLUMN_NAME), dataType: String(r.DATA_TYPE).toLowerCase() }]))
        const missing = columnNames.filter((c) => !columns.has(c.toLowerCase()))
        if (missing.length > 0) {
          throw new HydratorError(
            'ERR_TARGET_SCHEMA',
            `table ${target} has no column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `\`${c}\``).join(', ')}; its columns are: ${[...columns.values()].map((c) => c.name).join(', ')}`,
          )
        }
        if (versionColumn !== undefined) {
          const type = columns.get(versionColumn.toLowerCase())!.dataType
          if (!NUMERIC_TYPES.has(type)) {
            throw new HydratorError(
              'ERR_TARGET_SCHEMA',
              `version column \`${versionColumn}\` of ${target} is ${type}; it must be a number type (int, bigint, decimal, ...) so that versions compare as numbers`,
            )
          }
        }
        if (rebuild) planEmpty = !(await openSqlServerRebuild(pool, sql, schema, table, rebuild, context.dryRun, retry))
      },
      prepare: (event) => compiled.toRow(event),
      keyOf: mode === 'upsert' ? (w) => w.keyString : undefined,
      collapsesByKey: mode === 'upsert',
      // A dry run reads the table and plans each batch as the write below would apply it.
      plan: (batch, context) => planner.plan(batch, context),
      planIsExact: () => planner.exact,
      async write(batch, context) {
        const outcomes: WriteOutcome[] = new Array(batch.length)
        let survivors: number[]
        if (mode === 'upsert') {
          const collapsed = collapseByKey(batch)
          survivors = collapsed.survivors
          collapsed.survivorOf.forEach((s, i) => {
            if (s !== i) outcomes[i] = { status: 'skipped', reason: 'duplicateInBatch', key: keyObject(batch[i]!) }
          })
        } else {
          survivors = [...batch.keys()]
        }
        const writes = survivors.map((i) => batch[i]!)
        try {
          const applied = await apply(writes, context)
          survivors.forEach((i, k) => (outcomes[i] = applied[k]!))
          return outcomes
        } catch (error) {
          const fatal = asHydratorError(error, target)
          if (fatal) throw fatal
          // The server is unreachable or the commit's fate unknown: every write of the batch fails
          // with its key (row-by-row would meet the same fate, slower).
          const attempts = (error as { attempts?: number }).attempts
          const failed = (code: string, message: string) => {
            survivors.forEach((i) => (outcomes[i] = { status: 'failed', code, message, key: keyObject(batch[i]!), attempts }))
            return outcomes
          }
          if (error instanceof CommitUnknownError) return failed('ERR_CONNECTION', error.message)
          if (isTransient(error)) return failed('ERR_RETRIES_EXHAUSTED', `gave up after ${attempts} attempts: ${describeSqlServerError(error)}`)
        }
        // Something in the batch was rejected: apply it row by row, so only the rejected rows fail.
        for (const [k, i] of survivors.entries()) {
          const w = writes[k]!
          try {
            outcomes[i] = (await apply([w], context))[0]!
          } catch (error) {
            const fatal = asHydratorError(error, target)
            // The table or the login went bad mid-run: stop. A statement bug fails this row only.
            if (fatal && isConfigError(fatal)) throw fatal
            const attempts = (error as { attempts?: number }).attempts
            if (fatal) {
              outcomes[i] = { status: 'failed', code: fatal.code, message: fatal.message, key: keyObject(w), attempts }
            } else if (error instanceof CommitUnknownError) {
              outcomes[i] = { status: 'failed', code: 'ERR_CONNECTION', message: error.message, key: keyObject(w), attempts }
            } else if (isTransient(error)) {
              outcomes[i] = { status: 'failed', code: 'ERR_RETRIES_EXHAUSTED', message: `gave up after ${attempts} attempts: ${describeSqlServerError(error)}`, key: keyObject(w), attempts }
            } else {
              outcomes[i] = { status: 'failed', code: 'ERR_WRITE_REJECTED', message: rejectionMessage(error, target), key: keyObject(w), attempts }
            }
          }
        }
        return outcomes
      },
    },
    { ...options, batchSize },
  )
  return rebuild ? withSinkInfo(sink, { rebuild: sqlServerRebuild(pool, loadMssql, schema, table, rebuild, retry) }) : sink
}

async function loadMssql(): Promise<Mssql> {
  try {
    const mod = (await import('mssql')) as Mssql & { default?: Mssql }
    return mod.default ?? mod
  } catch (error) {
    throw new HydratorError('ERR_PLUGIN', 'the SQL Server sink needs the `mssql` package: npm install mssql', { cause: error })
  }
}

async function rollbackQuietly(tx: Transaction): Promise<void> {
  try {
    await tx.rollback()
  } catch {
    // The server already rolled it back (lost connection, deadlock victim); nothing is left to undo.
  }
}
