// event-hydrator/mssql: the SQL Server sink (needs the `mssql` package).
export * from './sinks/to-sql-server.js'
