// event-hydrator/postgres: the PostgreSQL sink (needs the `postgres` package).
export { toPostgres, type ToPostgresOptions, type PostgresWriteMode, type PostgresClient } from './sinks/to-postgres.js'
