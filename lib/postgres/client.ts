import type { Writable } from 'node:stream'

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

/**
 * The report's URI for a client, from the options it resolved (first host, port, database, user;
 * never the password), with the table as `?table=`.
 */
export function clientUri(sql: PostgresClient, table: string): string {
  const o = sql.options
  const host = o?.host?.[0]
  if (!host) return `postgres:?table=${encodeURIComponent(table)}`
  const port = o?.port?.[0]
  const user = o?.user ? `${encodeURIComponent(o.user)}@` : ''
  return `postgres://${user}${host}${port ? `:${port}` : ''}/${encodeURIComponent(o?.database ?? '')}?table=${encodeURIComponent(table)}`
}
