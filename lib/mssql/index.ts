// event-hydrator/mssql: the SQL Server sink (needs the `mssql` package).
export * from './sink.js'
export { mssqlPlugin } from './plugin.js'
