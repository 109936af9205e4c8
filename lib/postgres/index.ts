// event-hydrator/postgres: the PostgreSQL sink (needs the `postgres` package).
export { toPostgres, type ToPostgresOptions, type PostgresWriteMode } from './sink.js'
export { postgresSocket } from './socket.js'
export { postgresClient } from './connect.js'
export type { PostgresClient } from './client.js'
export { postgresPlugin } from './plugin.js'
