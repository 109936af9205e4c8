import { HydratorError, errorMessage } from '../errors.js'
import { clientUri, type PostgresClient } from './client.js'
import { toPostgres, type PostgresWriteMode } from './sink.js'
import { postgresSocket } from './socket.js'
import type { RebuildOptions } from '../rebuild.js'
import type { Sink } from '../types.js'
import { redactUri } from '../util/options.js'
import type { FactoryContext, ParsedUri, Plugin } from '../registry.js'
import { intParam, parseServerUrl } from '../uri.js'

// Query parameters the sink reads; every other one goes to the client (sslmode, application_name, ...).
const OWN_PARAMS = ['table', 'mode', 'timeoutMs']

const EXPECTED = 'postgres://user@host:5432/database?table=t'

/** Where to connect: a URL, or none when the client takes the connection from the PG* variables itself. */
interface Connection {
  /** A connection URL for `postgres()`, or undefined to use `options` alone. */
  readonly url?: string
  readonly options: Record<string, unknown>
  /** For the report: no password, ever. Undefined without a URL: the report then shows what the client resolved. */
  readonly display?: string
}

function connectionOf(uri: ParsedUri, env: FactoryContext['env']): Connection {
  const query = new URLSearchParams(uri.params)
  for (const p of OWN_PARAMS) query.delete(p)
  const rest = query.toString()
  if (uri.path.startsWith('//')) {
    // The client would throw a bare `TypeError: Invalid URL` (or connect to part of a password
    // holding an unencoded `/`, `?` or `#`): check it here, with the password hidden.
    parseServerUrl(uri.uri, { expected: EXPECTED, multiHost: true })
    const url = `${uri.scheme}:${uri.path}${rest ? `?${rest}` : ''}`
    return { url, options: {}, display: redactUri(url) }
  }
  if (uri.path !== '') {
    throw new HydratorError(
      'ERR_INVALID_URI',
      `\`${redactUri(uri.uri)}\` is not a PostgreSQL URI: use \`postgres://user@host:5432/db?table=t\`, or \`postgres:?table=t\` with PGHOST/PGUSER/PGPASSWORD/PGDATABASE/PGPORT or DATABASE_URL set`,
    )
  }
  // The client does not read DATABASE_URL: that one is ours.
  const databaseUrl = env.DATABASE_URL
  if (databaseUrl) {
    if (!/^postgres(ql)?:\/\//i.test(databaseUrl)) {
      throw new HydratorError('ERR_INVALID_URI', `DATABASE_URL is not a postgres:// URL: \`${redactUri(databaseUrl)}\``)
    }
    parseServerUrl(databaseUrl, { expected: EXPECTED, multiHost: true, label: 'DATABASE_URL' })
    const url = rest ? `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}${rest}` : databaseUrl
    return { url, options: {}, display: redactUri(url) }
  }
  // No URL: postgres() reads PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE from process.env
  // itself (the CLI's env is process.env). It reads PGSSL but not libpq's PGSSLMODE: that one is passed on.
  const options: Record<string, unknown> = {}
  if (env.PGSSLMODE) options.ssl = env.PGSSLMODE
  const parameters: Record<string, string> = {}
  for (const [k, v] of query) {
    if (k === 'sslmode') options.ssl = v
    else parameters[k] = v
  }
  if (Object.keys(parameters).length > 0) options.connection = parameters
  return { options }
}

async function postgresSink(uri: ParsedUri, context: FactoryContext): Promise<Sink> {
  // First: a URL the client cannot parse is the problem to name, whatever else is missing.
  const connection = connectionOf(uri, context.env)
  const table = uri.params.get('table') || context.table
  if (!table) {
    throw new HydratorError('ERR_USAGE', `the postgres sink needs a table: add \`?table=<name>\` to \`${redactUri(uri.uri)}\` or pass --table <name>`)
  }
  if (!context.mapping) {
    throw new HydratorError(
      'ERR_USAGE',
      'the postgres sink needs a mapping: pass --column <column>=<json.path> for each column (`.` is the whole event) and --key <column>; optionally --version-column <column> and --delete-when <pattern>',
    )
  }
  const mode = (uri.params.get('mode') ?? 'upsert') as PostgresWriteMode
  if (mode !== 'upsert' && mode !== 'append') {
    throw new HydratorError('ERR_INVALID_URI', `unknown \`mode=${mode}\` in \`${redactUri(uri.uri)}\`: use upsert or append`)
  }
  const timeoutMs = intParam(uri, 'timeoutMs', 1)
  let postgres: (url?: unknown, options?: Record<string, unknown>) => unknown
  try {
    postgres = (await import('postgres')).default as typeof postgres
  } catch (error) {
    throw new HydratorError('ERR_PLUGIN', `the postgres sink needs the \`postgres\` package: \`npm install postgres\` (${errorMessage(error)})`)
  }
  const concurrency = context.concurrency ?? 1
  const clientOptions = {
    ...connection.options,
    // the sink's batches in flight, plus one for COPY's reserved connection
    max: concurrency + 1,
    socket: postgresSocket,
    onnotice: () => {},
    connection: { application_name: 'event-hydrator', ...(connection.options.connection as object | undefined) },
  }
  type Client = PostgresClient & { end(options?: { timeout?: number }): Promise<void> }
  let sql: Client
  try {
    sql = (connection.url ? postgres(connection.url, clientOptions) : postgres(clientOptions)) as Client
  } catch (error) {
    // The client checks its options when made (`target_session_attrs=bogus`): a URI problem, not a crash.
    const shown = connection.display === undefined ? `\`${redactUri(uri.uri)}\` with the PG* environment variables` : `\`${connection.display}\``
    throw new HydratorError('ERR_INVALID_URI', `${shown}: ${errorMessage(error)}`, { cause: error })
  }
  context.onClose(() => sql.end({ timeout: 5 }))
  // A URL's ports are checked above; a port from PGPORT reaches the client unchecked (it parseInt()s it).
  if (sql.options?.port?.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    throw new HydratorError('ERR_INVALID_OPTION', `PGPORT must be a port number, got \`${process.env.PGPORT}\``)
  }
  const display =
    connection.display === undefined
      ? `${clientUri(sql, table)}${mode === 'append' ? '&mode=append' : ''}`
      : `${connection.display}${connection.display.includes('?') ? '&' : '?'}table=${encodeURIComponent(table)}${mode === 'append' ? '&mode=append' : ''}`
  return toPostgres({
    sql,
    table,
    mapping: context.mapping,
    mode,
    uri: display,
    ...(context.batchSize !== undefined ? { batchSize: context.batchSize } : {}),
    concurrency,
    ...(context.retry ? { retry: context.retry } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(context.flags.rebuild ? { rebuild: context.flags.rebuild as RebuildOptions | boolean } : {}),
  })
}

/**
 * The PostgreSQL sink schemes `postgres:` and `postgresql:`: `postgres://user:pass@host:5432/db?table=users`
 * (`&mode=append` for COPY, `&timeoutMs=30000` to close a connection that stalls mid-batch), or `postgres:?table=users` with the connection from DATABASE_URL when set,
 * else from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, which the `postgres` client reads from
 * `process.env` itself (PGSSLMODE, which it does not read, and DATABASE_URL come from `context.env`);
 * the report then shows the host, port, user and database the client resolved. The table may come
 * from --table instead, the mapping comes from --column/--key/--version-column/--delete-when. The
 * client loads only when used.
 *
 * @example
 * hydrate --source json:events.ndjson --sink 'postgres://app@localhost/app?table=orders' \
 *   --column id=detail.orderId --column version=detail.version --column doc=detail --key id --version-column version
 */
export const postgresPlugin: Plugin = {
  name: 'postgres',
  sinks: { postgres: postgresSink, postgresql: postgresSink },
}
