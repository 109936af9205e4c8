import { connect, type Socket } from 'node:net'
import type { Writable } from 'node:stream'
import { HydratorError, errorMessage } from '../errors.js'
import { collapseByKey, compileMapping, type CompiledMapping, type Mapping, type RowWrite } from '../mapping.js'
import type { Sink } from '../types.js'
import { assertInteger, assertString } from '../util/options.js'
import { splitQualifiedName } from '../util/sql-names.js'
import { retryReason, validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import { defineSink, withSinkInfo, type DriverContext, type SinkOptions, type WriteOutcome } from '../define-sink.js'

/** A query as `sql.unsafe()` of the `postgres` package returns it: a promise of rows, or a COPY stream. */
export interface PostgresQuery extends PromiseLike<readonly Record<string, unknown>[] & { readonly command?: string }> {
  /** Sends the query now rather than when awaited. */
  execute(): unknown
  writable(): Promise<Writable>
}

/** Anything that runs a query: a `postgres()` client or a reserved connection. */
export interface PostgresQueryable {
  unsafe(query: string, parameters?: readonly unknown[], options?: { prepare?: boolean }): PostgresQuery
}

/**
 * The part of a `postgres()` client (porsager/postgres 3.4+) the sink uses, typed structurally:
 * pass the client itself. The sink never ends it.
 */
export interface PostgresClient extends PostgresQueryable {
  /** Used by append mode, for COPY and its transaction. */
  reserve(): Promise<PostgresQueryable & { release(): void }>
  /** Read for the report's URI when present (host, port, database, user; never the password). */
  readonly options?: {
    readonly host?: readonly string[]
    readonly port?: readonly number[]
    readonly database?: string
    readonly user?: string
  }
}

/** The connection settings `postgres()` hands to its `socket` option. */
interface SocketOptions {
  readonly host: readonly string[]
  readonly port: readonly number[]
  readonly path?: string | false
}

const nextHost = new WeakMap<SocketOptions, number>()

/** A socket made by {@link postgresSocket}, with when it began waiting for an answer. */
interface WatchedSocket {
  readonly socket: Socket
  /** Set by a write while nothing was outstanding, cleared by the next byte received. */
  waitingSince: number | undefined
}

// The sockets of each client made with postgresSocket, keyed by the client's options object (the
// one `postgres()` hands to `socket` and shows as `sql.options`): `timeoutMs` closes the stalled ones.
const socketsOf = new WeakMap<object, Set<WatchedSocket>>()

/**
 * A `socket` option for `postgres()` that turns Nagle's algorithm off (TCP_NODELAY), as libpq does.
 * Without it, the `postgres` client's small messages (the end of a COPY, a COMMIT) wait for the
 * server's delayed ACK, about 40 ms each: a COPY per batch becomes 20 times slower. Hosts are tried
 * in turn like the client does itself; a unix socket `path` is honoured.
 *
 * @example
 * const sql = postgres(url, { socket: postgresSocket })
 */
export function postgresSocket(options: SocketOptions): Socket {
  if (options.path) return connect({ path: options.path })
  const i = nextHost.get(options) ?? 0
  nextHost.set(options, (i + 1) % options.host.length)
  const host = options.host[i]!
  const port = options.port[i] ?? options.port[0]!
  // The client reads `host` off its socket for TLS (the server name checked against the certificate).
  const socket = Object.assign(connect({ host, port, noDelay: true }), { host, port })
  watch(options, socket)
  return socket
}

/** Tracks whether a socket waits for an answer: a write starts the wait, any byte received ends it. */
function watch(options: SocketOptions, socket: Socket): void {
  let set = socketsOf.get(options)
  if (!set) socketsOf.set(options, (set = new Set()))
  const watched: WatchedSocket = { socket, waitingSince: undefined }
  set.add(watched)
  const write = socket.write
  socket.write = function watchedWrite(this: Socket, ...args: unknown[]) {
    watched.waitingSince ??= Date.now()
    return (write as (...a: unknown[]) => boolean).apply(this, args)
  } as Socket['write']
  socket.on('data', () => (watched.waitingSince = undefined))
  socket.once('close', () => set.delete(watched))
}

/**
 * Closes the sockets of a client that have waited `ms` or longer for an answer: the client fails
 * the statements sent on them with ETIMEDOUT and opens new connections for the next ones.
 */
function closeStalled(options: object, ms: number): number {
  let closed = 0
  const now = Date.now()
  for (const w of socketsOf.get(options) ?? []) {
    if (w.waitingSince === undefined || now - w.waitingSince < ms) continue
    closed++
    w.socket.destroy(Object.assign(new Error(`no answer from PostgreSQL within ${ms} ms`), { code: 'ETIMEDOUT' }))
  }
  return closed
}

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
}

/** One event ready to be written: the mapped row and its column values as PostgreSQL text. */
interface PgWrite {
  readonly row: RowWrite
  /** One text per mapped column, in mapping order; null for SQL NULL. */
  readonly texts: readonly (string | null)[]
}

type ColumnKind = 'json' | 'array' | 'other'

interface Column {
  readonly name: string
  /** The type without its modifier (`character varying`, not `character varying(20)`), so casts never truncate. */
  readonly type: string
  readonly kind: ColumnKind
}

interface Target {
  readonly qualified: string
  readonly display: string
  readonly columns: readonly Column[]
  readonly statements: Statements
}

interface Statements {
  /** Upserts only: parameters are one text[] per column; returns the ordinals written. */
  readonly upsert: string
  /** With a delete pattern: deletes and upserts in one statement; parameters are the delete columns, then every column. */
  readonly mixed?: string
  /** Plain insert (append mode's fallback from COPY). */
  readonly insert: string
  readonly copy: string
  /** Column indexes a delete sends: the key columns, then the version column. */
  readonly deleteColumns: readonly number[]
}

/**
 * Writes events as rows of a PostgreSQL table through a `postgres()` client: upserts (one statement
 * per batch, versions guarded, deletes for events matching `mapping.deleteWhen`) or appends (COPY).
 * The table, every mapped column and the unique index for the key are checked before any event is
 * read (ERR_TARGET_NOT_FOUND, ERR_TARGET_SCHEMA, ERR_AUTH). A row the database rejects fails alone
 * (ERR_WRITE_REJECTED with its key and PostgreSQL's message); the rest of its batch is written. A
 * lost connection retries the batch, whose transaction guarantees it is never half applied. Stale
 * versions (older or equal) and same-key events superseded in a batch are skipped. Objects and
 * arrays go to json/jsonb columns as JSON; `.` maps the whole event.
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
  if (timeoutMs !== undefined) {
    const clientOptions = (sql as { options?: { socket?: unknown; ssl?: unknown } }).options
    if (clientOptions?.socket !== postgresSocket) {
      throw new HydratorError('ERR_INVALID_OPTION', '`timeoutMs` needs a client made with `postgres(url, { socket: postgresSocket })`: the sink closes stalled connections through it')
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
  const keyOf = (row: RowWrite) => Object.fromEntries(mapping.key.map((k, i) => [k, row.key[i]]))
  const call = (context: DriverContext) => ({
    isRetryable,
    onRetry: (reason: string) => context.retried(reason),
    reasonOf: retryReason,
    signal: context.signal,
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
          // Not deleted although the row is there: the version guard kept it.
          outcomes[i] = !r.deleted && r.present === true
            ? { status: 'skipped', key: keyOf(writes[i]!.row) }
            : { status: 'written', deleted: true, key: keyOf(writes[i]!.row) }
        } else {
          const i = ups[Number(r.o) - 1]!
          outcomes[i] = { status: 'written', key: keyOf(writes[i]!.row) }
        }
      }
    }
    // Upserts not returned: the version guard kept the stored row.
    for (let i = 0; i < writes.length; i++) outcomes[i] ??= { status: 'skipped', key: keyOf(writes[i]!.row) }
    return outcomes
  }

  /**
   * Writes `indexes` of `writes`, bisecting on a row the database rejects until only the culprits
   * fail; retries a lost connection. Fills `outcomes`.
   */
  const apply = async (
    writes: readonly PgWrite[],
    indexes: readonly number[],
    outcomes: WriteOutcome[],
    context: DriverContext,
    insertOnly: boolean,
  ): Promise<void> => {
    if (indexes.length === 0) return
    try {
      // A plain INSERT commits by itself: after a loss that may have come after its commit, running
      // it again could insert the rows twice, so only losses that prove it did not run are retried.
      const policy = insertOnly ? { ...call(context), isRetryable: (e: unknown) => isRetryable(e) && !isAmbiguousLoss(e) } : call(context)
      const done = await withRetry(() => deadline(() => execute(indexes.map((i) => writes[i]!), insertOnly)), retry, policy)
      indexes.forEach((i, j) => (outcomes[i] = done[j]!))
    } catch (error) {
      if (insertOnly && isAmbiguousLoss(error)) {
        for (const i of indexes) {
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
        if (won.status !== 'failed') outcomes[i] = { status: 'skipped', key: keyOf(batch[i]!.row) }
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

  const sink = defineSink<In, PgWrite>(
    {
      uri,
      async open(context) {
        target = await withRetry(
          () => deadline(() => inspectTable(sql, tableName, options.table, compiled, mode)),
          { ...retry, attempts: Math.min(retry.attempts, 3) },
          call(context),
        ).catch((error: unknown) => {
          throw configError(error, options.table) ?? connectionError(error, uri)
        })
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
      sizeOf: (write) => write.texts.reduce((n, t) => n + (t === null ? 1 : t.length + 3), 0),
      preview: (write) => ({
        table: target?.display ?? options.table,
        op: mode === 'append' ? 'insert' : write.row.op,
        key: keyOf(write.row),
        ...(write.row.version !== undefined ? { version: write.row.version } : {}),
        ...(write.row.op === 'delete' ? {} : { row: write.row.row }),
      }),
      write: (batch, context) => (mode === 'append' ? writeAppend(batch, context) : writeUpserts(batch, context)),
    },
    // COPY rows are cheap: append batches are larger (measured: 1000 beat 500 and 2000).
    { batchSize: mode === 'append' ? 1000 : 500, ...options },
  )
  // An append repeated after a crash inserts its rows again: checkpoint after every batch.
  return mode === 'append' ? withSinkInfo(sink, { checkpointEveryBatch: true }) : sink

  // Keys and versions are sent as text like every other value: one `text[]` parameter per column.
  function columnArrays(writes: readonly PgWrite[], columns: readonly number[]): string[] {
    return columns.map((c) => arrayLiteral(writes.map((w) => w.texts[c]!)))
  }

  /** Checks the table and columns, learns the column types and builds the statements. */
  async function inspectTable(
    client: PostgresClient,
    name: TableName,
    given: string,
    m: CompiledMapping,
    writeMode: PostgresWriteMode,
  ): Promise<Target> {
    const candidates = [quoteName(name.exact), quoteName(name.folded)].filter((c, i, all) => all.indexOf(c) === i)
    let relation: Record<string, unknown> | undefined
    for (const candidate of candidates) {
      const rows = await client.unsafe(
        `select c.oid::int8::text as oid, n.nspname as schema, c.relname as name, c.relkind::text as kind,
           pg_catalog.has_table_privilege(c.oid, 'INSERT') as can_insert,
           pg_catalog.has_table_privilege(c.oid, 'UPDATE') as can_update,
           pg_catalog.has_table_privilege(c.oid, 'DELETE') as can_delete,
           pg_catalog.has_table_privilege(c.oid, 'SELECT') as can_select,
           current_user::text as "user", current_database()::text as database
         from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where c.oid = pg_catalog.to_regclass($1)`,
        [candidate],
      )
      if (rows[0]) {
        relation = rows[0]
        break
      }
    }
    if (!relation) {
      const similar = await client.unsafe(
        `select n.nspname || '.' || c.relname as name from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where c.relkind in ('r', 'p', 'v', 'f') and lower(c.relname) = lower($1) and n.nspname not in ('pg_catalog', 'information_schema') limit 5`,
        [name.exact.at(-1)],
      )
      const hint = similar.length ? ` (found: ${similar.map((r) => String(r.name)).join(', ')})` : ''
      throw new HydratorError(
        'ERR_TARGET_NOT_FOUND',
        `table \`${given}\` does not exist${name.exact.length === 1 ? ' in the search path' : ''}${hint}; create it first, or check --table`,
      )
    }
    const display = `${relation.schema}.${relation.name}`
    const kind = String(relation.kind)
    if (!['r', 'p', 'v', 'f'].includes(kind)) {
      throw new HydratorError('ERR_TARGET_SCHEMA', `\`${display}\` is ${RELKINDS[kind] ?? `a relation of kind ${kind}`}, not a table that can be written`)
    }
    const user = String(relation.user)
    const needs: [string, unknown][] = [['INSERT', relation.can_insert]]
    if (writeMode === 'upsert') needs.push(['UPDATE', relation.can_update], ['SELECT', relation.can_select])
    if (m.mapping.deleteWhen !== undefined) needs.push(['DELETE', relation.can_delete])
    const missing = needs.filter(([, ok]) => ok !== true).map(([p]) => p)
    if (missing.length > 0) {
      throw new HydratorError('ERR_AUTH', `role \`${user}\` lacks ${missing.join(', ')} on \`${display}\`: grant it, or connect as another role`)
    }

    const attributes = await client.unsafe(
      `select a.attnum::int as num, a.attname::text as name, pg_catalog.format_type(a.atttypid, null) as type,
         bt.typname::text as base, bt.typcategory::text as category, a.attnotnull as notnull, a.atthasdef as hasdef,
         a.attidentity::text as identity, a.attgenerated::text as generated
       from pg_catalog.pg_attribute a
       join pg_catalog.pg_type t on t.oid = a.atttypid
       join pg_catalog.pg_type bt on bt.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end
       where a.attrelid = $1::oid and a.attnum > 0 and not a.attisdropped
       order by a.attnum`,
      [relation.oid],
    )
    const byName = new Map(attributes.map((a) => [String(a.name), a]))
    const absent = m.columnNames.filter((c) => !byName.has(c))
    if (absent.length > 0) {
      const names = attributes.map((a) => String(a.name))
      const hints = absent.map((c) => {
        const near = names.find((n) => n.toLowerCase() === c.toLowerCase())
        return near ? `\`${c}\` (did you mean \`${near}\`?)` : `\`${c}\``
      })
      throw new HydratorError(
        'ERR_TARGET_SCHEMA',
        `table \`${display}\` has no column ${hints.join(', ')}; its columns are: ${names.slice(0, 30).join(', ')}${names.length > 30 ? ', ...' : ''}`,
      )
    }
    for (const c of m.columnNames) {
      const a = byName.get(c)!
      if (a.generated) throw new HydratorError('ERR_TARGET_SCHEMA', `column \`${c}\` of \`${display}\` is generated and cannot be written: remove it from the mapping`)
      if (a.identity === 'a') {
        throw new HydratorError('ERR_TARGET_SCHEMA', `column \`${c}\` of \`${display}\` is GENERATED ALWAYS AS IDENTITY and cannot be written: remove it from the mapping`)
      }
    }
    const required = attributes
      .filter((a) => a.notnull === true && a.hasdef !== true && !a.identity && !a.generated && !m.columnNames.includes(String(a.name)))
      .map((a) => String(a.name))
    if (required.length > 0) {
      throw new HydratorError(
        'ERR_TARGET_SCHEMA',
        `column${required.length > 1 ? 's' : ''} ${required.map((c) => `\`${c}\``).join(', ')} of \`${display}\` ${required.length > 1 ? 'are' : 'is'} NOT NULL without a default and not mapped: add \`--column ${required[0]}=<json path>\``,
      )
    }
    const columns: Column[] = m.columnNames.map((c) => {
      const a = byName.get(c)!
      const base = String(a.base)
      return {
        name: c,
        type: String(a.type),
        kind: base === 'json' || base === 'jsonb' ? 'json' : a.category === 'A' ? 'array' : 'other',
      }
    })

    if (writeMode === 'upsert') {
      const indexes = await client.unsafe(
        `select i.indkey::text as keys, i.indnkeyatts::int as n, i.indisprimary as "primary", ic.relname::text as name
         from pg_catalog.pg_index i join pg_catalog.pg_class ic on ic.oid = i.indexrelid
         where i.indrelid = $1::oid and i.indisunique and i.indimmediate and i.indisvalid
           and i.indpred is null and i.indexprs is null`,
        [relation.oid],
      )
      const wanted = new Set(m.mapping.key.map((k) => Number(byName.get(k)!.num)))
      const names = new Map(attributes.map((a) => [Number(a.num), String(a.name)]))
      const found = indexes.map((ix) => String(ix.keys).split(' ').slice(0, Number(ix.n)).map(Number))
      const match = found.some((cols) => cols.length === wanted.size && cols.every((c) => wanted.has(c)))
      if (!match) {
        const have = found.length
          ? `; it has unique indexes on ${found.map((cols) => `(${cols.map((c) => names.get(c)).join(', ')})`).join(', ')}`
          : '; it has no primary key or unique index'
        throw new HydratorError(
          'ERR_TARGET_SCHEMA',
          `upsert into \`${display}\` needs a primary key or unique index on exactly (${m.mapping.key.join(', ')})${have}: ` +
            `add one (\`create unique index on ${display} (${m.mapping.key.map(quoteIdent).join(', ')})\`), change --key, or use mode append`,
        )
      }
    }
    const qualified = `${quoteIdent(String(relation.schema))}.${quoteIdent(String(relation.name))}`
    return { qualified, display, columns, statements: buildStatements(qualified, columns, keyIndexes, versionIndex, m.mapping.deleteWhen !== undefined) }
  }
}

/**
 * Writes a batch with one COPY inside a transaction on a reserved connection; resolves false when
 * PostgreSQL rejected it (nothing written), rejects when the connection was lost.
 *
 * Two bugs of postgres 3.4.9 shape this. The stream of a COPY that PostgreSQL rejects never settles
 * (porsager/postgres#1173), so the outcome is read from the COMMIT that follows: an aborted
 * transaction answers ROLLBACK. And a query sent on a reserved connection that has closed crashes
 * the process from a timer (porsager/postgres#1208), so every query here is sent while the
 * connection is known to be open (BEGIN and COPY at once, COMMIT from inside the stream's final
 * step), and a connection that was lost is never queried or released again: the pool already
 * counts it as closed and reconnects it. A third: a query sent after the socket failed but before
 * it closed never settles, so the COMMIT is sent in the same microtask run as the end of the COPY.
 *
 * A connection lost after COMMIT was sent leaves the outcome unknown, and retrying a COPY that did
 * commit would insert the batch twice. So the transaction's id is asked for with BEGIN (pipelined,
 * no extra wait), and after such a loss {@link commitStatus} asks PostgreSQL whether it committed.
 */
async function copyRows(sql: PostgresClient, target: Target, batch: readonly PgWrite[], retry: Required<RetryPolicy>): Promise<boolean> {
  let data = ''
  for (const { texts } of batch) {
    data += copyText(texts[0] ?? null)
    for (let i = 1; i < texts.length; i++) data += '\t' + copyText(texts[i] ?? null)
    data += '\n'
  }
  const connection = await sql.reserve()
  let lost = false
  let inTransaction = false
  let commitSent = false
  let xid: string | undefined
  try {
    connection.unsafe('begin').execute()
    inTransaction = true
    const xidQuery = connection.unsafe('select txid_current()::text as xid')
    xidQuery.execute()
    const stream = (await connection.unsafe(target.statements.copy).writable()) as Writable & {
      _final(callback: (error?: Error | null) => void): void
    }
    // Answered before the COPY started, so this does not wait.
    xid = String((await xidQuery)[0]!.xid)
    const settled = new Promise<{ commit?: PostgresQuery; rollback?: PostgresQuery; error?: unknown }>((resolve) => {
      stream.on('error', (error) => {
        if (!inTransaction) return
        inTransaction = false
        if (isConnectionLoss(error)) return resolve({ error })
        // PostgreSQL stopped the COPY early; the connection is open in this turn: end the transaction.
        const rollback = connection.unsafe('rollback')
        rollback.execute()
        resolve({ rollback, error })
      })
      const final = stream._final
      stream._final = function finalThenCommit(callback) {
        if (!inTransaction) return final.call(this, callback)
        inTransaction = false
        const commit = connection.unsafe('commit')
        commitSent = true
        // The end of the COPY and the COMMIT go out in one run of microtasks: the client sends a
        // query a microtask after execute(), and the end of the COPY runs in the microtask queued
        // before it. If writing the end fails (the backend is gone), the socket reports its error
        // after both, so the client fails the COMMIT with it. Sent the other way round, the COMMIT
        // reached the client after the error but before the close, and postgres 3.4.9 never settles
        // a query sent then: the sink hung for ever (test: "a socket that fails as the COPY ends").
        queueMicrotask(() => final.call(this, callback))
        commit.execute()
        resolve({ commit })
      }
    })
    stream.end(data)
    const { commit, rollback, error } = await settled
    if (rollback) await Promise.resolve(rollback).then(undefined, () => undefined)
    if (error) throw error
    const result = await commit!
    return result.command === 'COMMIT'
  } catch (error) {
    lost = isConnectionLoss(error)
    if (lost) {
      if (commitSent && xid !== undefined && (await commitStatus(sql, xid, target, batch.length, error, retry))) return true
      throw error
    }
    // Still in this turn of the failed query, so the connection is open: end the transaction.
    if (inTransaction) {
      inTransaction = false
      const rollback = connection.unsafe('rollback')
      rollback.execute()
      await Promise.resolve(rollback).then(undefined, () => undefined)
    }
    if (sqlState(error)) return false
    throw error
  } finally {
    if (!lost) connection.release()
  }
}

/**
 * Whether transaction `xid` committed, asked on a fresh connection after the one that sent its
 * COMMIT was lost: true if it did, false if it aborted (the batch may be retried). If PostgreSQL
 * cannot say within the sink's retry budget, the batch fails with ERR_CONNECTION rather than risk a duplicate.
 */
async function commitStatus(
  sql: PostgresClient,
  xid: string,
  target: Target,
  rows: number,
  lostWith: unknown,
  retry: Required<RetryPolicy>,
): Promise<boolean> {
  // The client keeps a query queued while it reconnects, so each attempt gets its own deadline.
  const wait = Math.min(Math.max(retry.maxDelayMs * 4, 1000), 10_000)
  const ask = async (): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${wait} ms`), { code: 'ETIMEDOUT' })), wait)
    })
    const [row] = await Promise.race([sql.unsafe('select txid_status($1::int8) as status', [xid]), deadline]).finally(() => clearTimeout(timer))
    const status = row?.status
    if (status === 'committed') return true
    if (status === 'aborted') return false
    // 'in progress': the server has not yet noticed the connection is gone.
    throw Object.assign(new Error(`transaction ${xid} is still ${String(status)}`), { code: IN_PROGRESS })
  }
  try {
    return await withRetry(ask, { ...retry, attempts: Math.max(retry.attempts, 3) }, {
      isRetryable: (error) => isRetryable(error) || (error as { code?: unknown }).code === IN_PROGRESS,
    })
  } catch (error) {
    throw new HydratorError(
      'ERR_CONNECTION',
      `the connection to ${target.display} was lost during COMMIT and PostgreSQL could not say whether transaction ${xid} committed ` +
        `(${errorMessage(error)}): the ${rows} rows of this batch may or may not be in the table; check before redriving them`,
      { cause: lostWith },
    )
  }
}

/** The code of a commitStatus attempt that found the transaction still in progress. */
const IN_PROGRESS = 'TXN_IN_PROGRESS'

const RELKINDS: Record<string, string> = {
  i: 'an index',
  I: 'a partitioned index',
  S: 'a sequence',
  m: 'a materialized view',
  c: 'a composite type',
  t: 'a TOAST table',
}

interface TableName {
  /** The parts as written, quotes removed. */
  readonly exact: readonly string[]
  /** The parts as PostgreSQL reads them unquoted: lower case, quoted parts kept. */
  readonly folded: readonly string[]
}

/** Splits `schema.table`, honouring double-quoted parts (`"My Schema"."a.b"`). */
function parseTableName(text: string): TableName {
  const parts = splitQualifiedName(text, { open: '"', close: '"' })
  return { exact: parts.map((p) => p.name), folded: parts.map((p) => (p.quoted ? p.name : p.name.toLowerCase())) }
}

/** A double-quoted identifier: embedded quotes doubled, so any name is safe. */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

function quoteName(parts: readonly string[]): string {
  return parts.map(quoteIdent).join('.')
}

/**
 * The statements for a table, built once. Every value travels as a `text[]` parameter (one per
 * column) and is cast to the column's type in SQL: no statement ever holds a value, and the
 * statement text is the same for every batch, so it is prepared once per connection.
 */
function buildStatements(
  qualified: string,
  columns: readonly Column[],
  keys: readonly number[],
  version: number,
  withDeletes: boolean,
): Statements {
  const q = (i: number) => quoteIdent(columns[i]!.name)
  const input = (indexes: readonly number[], offset = 0) => {
    const params = indexes.map((_, j) => `$${offset + j + 1}::text[]`).join(', ')
    const aliases = indexes.map((c) => `"c${c}"`).join(', ')
    const casts = indexes.map((c) => `"__u"."c${c}"::${columns[c]!.type} as "c${c}"`).join(', ')
    return `select "__u"."o"::int4 as "o", ${casts} from unnest(${params}) with ordinality as "__u"(${aliases}, "o")`
  }
  const all = columns.map((_, i) => i)
  const names = all.map(q).join(', ')
  const valueList = all.map((c) => `"c${c}"`).join(', ')
  const nonKeys = all.filter((c) => !keys.includes(c))
  const set = (nonKeys.length > 0 ? nonKeys : keys).map((c) => `${q(c)} = excluded.${q(c)}`).join(', ')
  const guard = version >= 0 ? ` where "__t".${q(version)} is null or "__t".${q(version)} < excluded.${q(version)}` : ''
  const insertUpsert =
    `insert into ${qualified} as "__t" (${names}) select ${valueList} from "__in" ` +
    `on conflict (${keys.map(q).join(', ')}) do update set ${set}${guard} ` +
    `returning ${keys.map((c, j) => `"__t".${q(c)} as "k${j}"`).join(', ')}`
  const joinWritten = keys.map((c, j) => `"__in"."c${c}" = "__w"."k${j}"`).join(' and ')
  const upsert = `with "__in" as (${input(all)}), "__w" as (${insertUpsert}) select "__in"."o" as "o" from "__in" join "__w" on ${joinWritten}`
  const insert =
    `insert into ${qualified} (${names}) select ${all.map((c) => `"__u"."c${c}"::${columns[c]!.type}`).join(', ')} ` +
    `from unnest(${all.map((_, j) => `$${j + 1}::text[]`).join(', ')}) as "__u"(${valueList})`
  const deleteColumns = version >= 0 ? [...keys, version] : [...keys]
  const copy = `copy ${qualified} (${names}) from stdin`
  if (!withDeletes) return { upsert, insert, copy, deleteColumns }

  // Deletes and upserts of one batch in one statement (so one transaction): the keys are distinct,
  // so no row is touched twice. `exists` reads the snapshot from before the statement.
  const match = (alias: string) => keys.map((c) => `${alias}.${q(c)} = "__del"."c${c}"`).join(' and ')
  const deleteGuard = version >= 0 ? ` and ("__t".${q(version)} is null or "__t".${q(version)} < "__del"."c${version}")` : ''
  const mixed =
    `with "__del" as (${input(deleteColumns)}), ` +
    `"__d" as (delete from ${qualified} as "__t" using "__del" where ${match('"__t"')}${deleteGuard} returning "__del"."o"), ` +
    `"__in" as (${input(all, deleteColumns.length)}), ` +
    `"__w" as (${insertUpsert}) ` +
    `select 'd' as "op", "__del"."o" as "o", ("__d"."o" is not null) as "deleted", ` +
    `exists (select 1 from ${qualified} as "__x" where ${match('"__x"')}) as "present" ` +
    `from "__del" left join "__d" on "__d"."o" = "__del"."o" ` +
    `union all select 'u', "__in"."o", false, false from "__in" join "__w" on ${joinWritten}`
  return { upsert, mixed, insert, copy, deleteColumns }
}

/**
 * A value as PostgreSQL input text for a column: JSON for json/jsonb columns (any value) and for
 * objects elsewhere; an array literal for arrays into array columns; null stays NULL.
 */
function toText(value: unknown, kind: ColumnKind): string | null {
  if (value === null || value === undefined) return null
  if (kind === 'json') return JSON.stringify(value)
  switch (typeof value) {
    case 'string':
      return value
    case 'number':
    case 'bigint':
      return String(value)
    case 'boolean':
      return value ? 'true' : 'false'
  }
  if (value instanceof Date) return value.toISOString()
  if (kind === 'array' && Array.isArray(value)) return arrayLiteral(value.map((v) => (Array.isArray(v) ? v : toText(v, 'other'))))
  return JSON.stringify(value)
}

/** A PostgreSQL array literal: every element double-quoted and escaped, nulls as NULL, nested arrays kept. */
function arrayLiteral(values: readonly unknown[]): string {
  let out = '{'
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ','
    const v = values[i]
    if (v === null || v === undefined) out += 'NULL'
    else if (Array.isArray(v)) out += arrayLiteral(v.map((x) => (Array.isArray(x) ? x : toText(x, 'other'))))
    else out += '"' + String(v).replace(/["\\]/g, '\\$&') + '"'
  }
  return out + '}'
}

const WRITTEN: WriteOutcome = Object.freeze({ status: 'written' })

const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' }
const COPY_SPECIAL = /[\\\t\n\r]/
const COPY_SPECIALS = /[\\\t\n\r]/g

/** A value in COPY's text format. */
function copyText(text: string | null): string {
  if (text === null) return '\\N'
  return COPY_SPECIAL.test(text) ? text.replace(COPY_SPECIALS, (c) => COPY_ESCAPES[c]!) : text
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'CONNECTION_CLOSED',
  'CONNECT_TIMEOUT',
])

// SQLSTATEs worth another try: the server went away, is starting or is full, or the transaction lost a race.
const RETRYABLE_STATES = new Set(['57P01', '57P02', '57P03', '40001', '40P01', '53300', '53400'])

function sqlState(error: unknown): string | undefined {
  const e = error as { code?: unknown; severity?: unknown } | null
  return e && typeof e.code === 'string' && typeof e.severity === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined
}

/** The connection is gone (or never came): nothing more may be sent on it. */
function isConnectionLoss(error: unknown): boolean {
  const state = sqlState(error)
  if (state) return state.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03'
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && RETRYABLE_CODES.has(code)
}

/**
 * A connection lost in a way that does not say whether the statement in flight committed: the
 * socket closed or timed out. A refused connection never sent it; a server error (57P01, ...)
 * arrives instead of the statement's result, so the statement did not commit.
 */
function isAmbiguousLoss(error: unknown): boolean {
  if (sqlState(error)) return false
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && RETRYABLE_CODES.has(code) && !['ECONNREFUSED', 'CONNECT_TIMEOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN'].includes(code)
}

/** A lost or refused connection, a deadlock, a serialization failure: the batch is tried again. */
function isRetryable(error: unknown): boolean {
  const state = sqlState(error)
  if (state) return state.startsWith('08') || RETRYABLE_STATES.has(state)
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && RETRYABLE_CODES.has(code)
}

/** An error caused by some row's data: bad value, constraint, trigger. Bisecting finds the row. */
function isRowRejection(error: unknown): boolean {
  const state = sqlState(error)
  if (!state) return false
  return ['21', '22', '23', '27', '2F', '38', '39', '54', 'P0'].includes(state.slice(0, 2))
}

/** PostgreSQL's own words for one rejected row; the detail line is left out, as it can hold the whole row. */
function rejectionMessage(error: unknown, table: string): string {
  const e = error as { message?: string; code?: string; constraint_name?: string; column_name?: string }
  return `${table} rejected the row (${e.code}): ${e.message ?? errorMessage(error)}`
}

/** Errors that mean the table or the role is not what the mapping needs: the run stops. */
function configError(error: unknown, table: string): HydratorError | undefined {
  if (error instanceof HydratorError) return error
  const state = sqlState(error)
  if (!state) return undefined
  const message = `${table}: ${errorMessage(error)} (${state})`
  if (state === '42501' || state.startsWith('28')) return new HydratorError('ERR_AUTH', message, { cause: error })
  if (state === '3D000') return new HydratorError('ERR_TARGET_NOT_FOUND', message, { cause: error })
  if (['42P01', '42703', '42704', '3F000', '42P10', '25006'].includes(state)) return new HydratorError('ERR_TARGET_SCHEMA', message, { cause: error })
  return undefined
}

function connectionError(error: unknown, uri: string): HydratorError {
  return new HydratorError('ERR_CONNECTION', `cannot reach PostgreSQL at ${uri}: ${errorMessage(error)}`, { cause: error })
}

function clientUri(sql: PostgresClient, table: string): string {
  const o = sql.options
  const host = o?.host?.[0]
  if (!host) return `postgres:?table=${encodeURIComponent(table)}`
  const port = o?.port?.[0]
  const user = o?.user ? `${encodeURIComponent(o.user)}@` : ''
  return `postgres://${user}${host}${port ? `:${port}` : ''}/${encodeURIComponent(o?.database ?? '')}?table=${encodeURIComponent(table)}`
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value)
  if (typeof value === 'object') return value.constructor?.name ?? 'object'
  return typeof value
}
