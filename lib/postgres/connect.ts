// A `postgres()` client made the way the sink wants it, for code that makes its own: the documented
// `postgres(url, { socket: postgresSocket })` does not typecheck under strict mode, because the
// `postgres` package's types do not declare its `socket` option.
import type postgres from 'postgres'
import { HydratorError, errorMessage } from '../errors.js'
import { postgresSocket } from './socket.js'

/**
 * Makes a `postgres()` client (the `postgres` package is loaded now, so `event-hydrator/postgres`
 * imports without it) (from a URL, or from the PG* environment variables when there is
 * none) whose connections turn Nagle's algorithm off ({@link postgresSocket}): without it each batch
 * of the sink waits about 40 ms on delayed ACKs, and `timeoutMs` cannot watch the connections. The
 * client is yours: end it with `sql.end()` when done.
 *
 * @example
 * const sql = await postgresClient('postgres://app@localhost:5432/shop', { max: 4 })
 * await pipe(readJsonLines('events.ndjson'), toPostgres({ sql, table: 'orders', mapping }))
 * await sql.end()
 */
export async function postgresClient<T extends Record<string, postgres.PostgresType> = {}>(url?: string, options: postgres.Options<T> = {}): Promise<postgres.Sql<{}>> {
  let make: typeof postgres
  try {
    make = (await import('postgres')).default
  } catch (error) {
    throw new HydratorError('ERR_PLUGIN', `postgresClient needs the \`postgres\` package: \`npm install postgres\` (${errorMessage(error)})`)
  }
  const withSocket = { ...options, socket: postgresSocket } as postgres.Options<T>
  return (url === undefined ? make(withSocket) : make(url, withSocket)) as postgres.Sql<{}>
}
