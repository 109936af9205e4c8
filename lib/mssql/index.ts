// event-hydrator/mssql: the SQL Server sink (needs the `mssql` package).
export { toSqlServer, type ToSqlServerOptions, type SqlServerPool } from './sink.js'
export { MAX_STATEMENT_PARAMETERS, parseTableName, quoteIdentifier } from './statements.js'
export { mssqlPlugin } from './plugin.js'
