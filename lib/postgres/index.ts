// event-hydrator/postgres: the PostgreSQL sink (needs the `postgres` package).
export { toPostgres, postgresSocket, type ToPostgresOptions, type PostgresWriteMode, type PostgresClient } from './sink.js'
export { postgresPlugin } from './plugin.js'
