// event-hydrator/postgres: the PostgreSQL sink (needs the `postgres` package).
export { toPostgres, postgresSocket, type ToPostgresOptions, type PostgresWriteMode, type PostgresClient } from './sinks/to-postgres.js'
