import type { config as MssqlConfig, ConnectionPool } from 'mssql'
import { HydratorError, errorMessage } from '../errors.js'
import { toSqlServer } from './sink.js'
import type { Sink } from '../types.js'
import { redactUri } from '../util/options.js'
import type { FactoryContext, ParsedUri, Plugin } from '../registry.js'
import { decodeUriPart, parseServerUrl } from '../uri.js'
import type { RebuildOptions } from '../rebuild.js'

const PARAMS = new Set(['table', 'mode', 'encrypt', 'trustServerCertificate', 'instance', 'connectTimeoutMs', 'requestTimeoutMs'])

/**
 * The SQL Server sink for the CLI: `mssql://user:password@host:1433/database?table=dbo.users` (or
 * `sqlserver://...`). Query parameters: `table` (`schema.table`, or `--table`), `mode`
 * (`upsert` | `append`), `encrypt` and `trustServerCertificate` (`true` | `false`, as `mssql`;
 * encryption is on by default), `instance` (a named instance instead of a port), `connectTimeoutMs`,
 * `requestTimeoutMs`. The password may instead come from the `MSSQL_PASSWORD` environment variable
 * (and the user from `MSSQL_USER`). The `mssql` package is loaded only when the scheme is used; the
 * pool is connected before any event is read (a refused login is ERR_AUTH) and closed when the run
 * ends. The report shows the URI with the password replaced by `***`.
 *
 * @example
 * hydrate --source json:events.ndjson --sink 'mssql://app@db:1433/shop?table=dbo.orders' \
 *   --column id=detail.orderId --column status=detail.status --column version=detail.version \
 *   --key id --version-column version
 */
export const mssqlPlugin: Plugin = {
  name: 'mssql',
  sinks: { mssql: createMssqlSink, sqlserver: createMssqlSink },
}

interface Target {
  readonly config: MssqlConfig
  readonly table: string
  readonly mode: 'upsert' | 'append'
  readonly uri: string
}

/**
 * Reads a sink URI into an `mssql` config, the table and the mode, without touching the network.
 * Throws ERR_INVALID_URI (or ERR_USAGE for a missing table) naming the URI with its password hidden.
 *
 * @example
 * parseMssqlUri(parseUri('mssql://app:pw@db:1433/shop?table=dbo.orders'), { env: {} }).config.port // 1433
 */
export function parseMssqlUri(uri: ParsedUri, context: Pick<FactoryContext, 'env' | 'table' | 'concurrency'>): Target {
  const shown = redactUri(uri.uri)
  // Also refuses a password the URL parser would read differently from the redaction (an unencoded
  // `/`, `?` or `#`), which would otherwise reach the server, or a message, as a host or parameter.
  const url = parseServerUrl(uri.uri, { expected: `${uri.scheme}://user@host:1433/database?table=dbo.users` })
  if (!url.hostname) throw new HydratorError('ERR_INVALID_URI', `\`${shown}\` names no host; expected \`${uri.scheme}://user@host:1433/database?table=dbo.users\``)
  for (const key of url.searchParams.keys()) {
    if (!PARAMS.has(key)) {
      throw new HydratorError('ERR_INVALID_URI', `unknown parameter \`${key}\` in \`${shown}\`; known: ${[...PARAMS].join(', ')}`)
    }
  }
  const bool = (name: string): boolean | undefined => {
    const v = url.searchParams.get(name)
    if (v === null) return undefined
    if (v === 'true' || v === 'false') return v === 'true'
    throw new HydratorError('ERR_INVALID_URI', `expected \`${name}\` to be true or false in \`${shown}\`, got \`${v}\``)
  }
  const ms = (name: string): number | undefined => {
    const v = url.searchParams.get(name)
    if (v === null) return undefined
    const n = Number(v)
    if (!Number.isInteger(n) || n < 0) throw new HydratorError('ERR_INVALID_URI', `expected \`${name}\` to be a whole number of milliseconds in \`${shown}\`, got \`${v}\``)
    return n
  }
  const user = decodeURIComponent(url.username) || context.env.MSSQL_USER
  const password = url.password ? decodeURIComponent(url.password) : context.env.MSSQL_PASSWORD
  if (!user) throw new HydratorError('ERR_INVALID_URI', `\`${shown}\` names no user; use \`${uri.scheme}://user@host/...\` or set MSSQL_USER`)
  const database = decodeUriPart(uri, url.pathname.replace(/^\//, ''), 'the database name')
  if (!database || database.includes('/')) {
    throw new HydratorError('ERR_INVALID_URI', `\`${shown}\` names no database; expected \`${uri.scheme}://user@host:1433/database?table=dbo.users\``)
  }
  const table = url.searchParams.get('table') ?? context.table
  if (!table) throw new HydratorError('ERR_USAGE', `the SQL Server sink needs a table: add \`?table=dbo.users\` to \`${shown}\` or pass --table`)
  const mode = url.searchParams.get('mode') ?? 'upsert'
  if (mode !== 'upsert' && mode !== 'append') {
    throw new HydratorError('ERR_INVALID_URI', `expected \`mode\` to be upsert or append in \`${shown}\`, got \`${mode}\``)
  }
  const port = url.port ? Number(url.port) : undefined
  const instance = url.searchParams.get('instance') ?? undefined
  const connectTimeout = ms('connectTimeoutMs')
  const requestTimeout = ms('requestTimeoutMs')
  const config: MssqlConfig = {
    server: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    ...(port !== undefined && !instance ? { port } : {}),
    database,
    user,
    ...(password !== undefined ? { password } : {}),
    ...(connectTimeout !== undefined ? { connectionTimeout: connectTimeout } : {}),
    ...(requestTimeout !== undefined ? { requestTimeout } : {}),
    options: {
      ...(bool('encrypt') !== undefined ? { encrypt: bool('encrypt') } : {}),
      ...(bool('trustServerCertificate') !== undefined ? { trustServerCertificate: bool('trustServerCertificate') } : {}),
      ...(instance ? { instanceName: instance } : {}),
    },
    // One connection per batch in flight, and one to spare for checks.
    pool: { max: Math.max(10, (context.concurrency ?? 1) + 1), min: 0 },
  }
  return { config, table, mode, uri: shown }
}

async function createMssqlSink(uri: ParsedUri, context: FactoryContext): Promise<Sink> {
  const target = parseMssqlUri(uri, context)
  if (!context.mapping) {
    throw new HydratorError(
      'ERR_USAGE',
      `the SQL Server sink needs a mapping: --column name=json.path for each column and --key (${target.uri})`,
    )
  }
  let sql: typeof import('mssql')
  try {
    const mod = (await import('mssql')) as typeof import('mssql') & { default?: typeof import('mssql') }
    sql = mod.default ?? mod
  } catch (error) {
    throw new HydratorError('ERR_PLUGIN', `the \`${uri.scheme}:\` sink needs the \`mssql\` package: npm install mssql`, { cause: error })
  }
  const pool: ConnectionPool = new sql.ConnectionPool(target.config)
  // Pool errors surface on the requests that meet them; an unhandled 'error' event would crash.
  pool.on('error', () => {})
  // Options are checked before the network is touched.
  const sink = toSqlServer({
    pool,
    table: target.table,
    mapping: context.mapping,
    mode: target.mode,
    uri: target.uri,
    ...(context.batchSize !== undefined ? { batchSize: context.batchSize } : {}),
    ...(context.concurrency !== undefined ? { concurrency: context.concurrency } : {}),
    ...(context.retry !== undefined ? { retry: context.retry } : {}),
    ...(context.flags.rebuild ? { rebuild: context.flags.rebuild as RebuildOptions | boolean } : {}),
  })
  try {
    await pool.connect()
  } catch (error) {
    await pool.close().catch(() => {})
    const code = (error as { code?: string }).code
    if (code === 'ELOGIN') {
      throw new HydratorError('ERR_AUTH', `SQL Server refused the login for ${target.uri}: ${errorMessage(error)}`, { cause: error })
    }
    throw new HydratorError('ERR_CONNECTION', `cannot connect to SQL Server for ${target.uri}: ${errorMessage(error)}`, { cause: error })
  }
  context.onClose(() => pool.close())
  return sink
}
