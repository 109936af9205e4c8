// A SQL Server stand-in for tests: it speaks TDS 7.4 on 127.0.0.1 to the real `mssql`/tedious
// client and keeps its tables in memory. It accepts a login (plain text: it answers PRELOGIN with
// ENCRYPT_NOT_SUP, so clients must use `encrypt: false`), runs SQL batches and sp_executesql RPCs
// with typed parameters, and begin/commit/rollback transaction-manager requests. It is strict: what
// SQL Server rejects it rejects with SQL Server's error number and message (208, 207, 515, 547,
// 2627, 8672, 8003, 245, 2628, 10713, ...), and what it does not understand is a syntax error, so a
// test fails loudly instead of passing on a statement that did nothing. Every request is recorded
// (statement text, parameters with their declared types and values) for tests to assert on, and
// faults can be injected (drop the connection, answer with an error).
//
// The T-SQL it understands is the subset in tds/sql.ts: what the SQL Server sink emits plus what
// tests need to create and read tables. Not supported: BULK LOAD (INSERT BULK), MARS, TLS,
// table-valued parameters, nested transactions, temporary tables.

import { createServer, type Server, type Socket } from 'node:net'
import { Database, SqlErrors, type Session, type StatementResult, type Transaction, type TypedValue, convert } from './tds/engine.js'
import { parseParamDeclarations } from './tds/sql.js'
import { SqlError, typeToString, type SqlType, type Value } from './tds/types.js'
import { listenLocal } from './listen.js'
import {
  COLLATION,
  DONE_STATUS,
  ENV,
  MessageAssembler,
  PACKET,
  STATUS_RESET_CONNECTION,
  TOKEN,
  UnsupportedRequestError,
  colMetadata,
  done,
  envChangeBytes,
  envChangeString,
  errorToken,
  featureExtAck,
  infoToken,
  loginAck,
  packets,
  preloginResponse,
  readLogin7,
  readRpc,
  readSqlBatch,
  readTransactionManager,
  returnStatus,
  row,
  type Headers,
  type RpcParameter,
} from './tds/wire.js'

export type { Value } from './tds/types.js'

/** The most parameters SQL Server takes in one RPC request (sp_executesql's own two included). */
export const MAX_RPC_PARAMETERS = 2100

export interface TdsServerOptions {
  /** @default 'sa' */
  readonly user?: string
  /** @default 'Hydrator-test-1' */
  readonly password?: string
  /** The one database there is. @default 'hydrator' */
  readonly database?: string
}

export interface RecordedParameter {
  /** Without `@`. */
  readonly name: string
  /** The type sp_executesql declared for it, as T-SQL: `nvarchar(max)`, `int`. */
  readonly type: string
  /** The type it was sent with on the wire. */
  readonly wireType: string
  readonly value: Value
}

export interface RecordedStatement {
  /** Which connection sent it (1, 2, ...). */
  readonly connection: number
  readonly kind: 'sql-batch' | 'rpc' | 'begin' | 'commit' | 'rollback'
  /** The T-SQL: the batch text, or sp_executesql's @statement. */
  readonly sql?: string
  /** sp_executesql's parameters besides @statement and @params. */
  readonly params: readonly RecordedParameter[]
  /** Every parameter of the RPC request, @statement and @params included. */
  readonly rpcParameterCount: number
  /** The request ran inside a transaction. */
  readonly inTransaction: boolean
  /** What the server answered with, when it failed. */
  error?: { readonly number: number; readonly message: string }
  /** Rows affected per statement. */
  rowCounts?: number[]
}

export interface Fault {
  /** Which request it applies to; the first request it returns true for gets the fault. */
  readonly when: (statement: RecordedStatement) => boolean
  /**
   * `drop`: close the connection; `error`: answer with this SQL Server error instead of running it;
   * `delay`: hold the request for `ms` before running it (a lock wait, a busy server). A client that
   * gives up meanwhile sends an ATTENTION: the request is cancelled without running, as SQL Server
   * cancels a statement, and any transaction stays open for the client to roll back.
   */
  readonly kind: 'drop' | 'error' | 'delay'
  /** For `delay`. @default 1000 */
  readonly ms?: number
  /** For `drop`: run the request first and drop before answering (the client cannot know it ran). */
  readonly execute?: boolean
  readonly number?: number
  readonly message?: string
  /** How many requests get it. @default 1 */
  times?: number
}

export interface TdsServer {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly database: string
  /** Every request since the start (or the last `clearStatements()`). */
  readonly statements: RecordedStatement[]
  readonly db: Database
  /** A config for `new sql.ConnectionPool(config)` that reaches this server. */
  config(extra?: Record<string, unknown>): {
    server: string
    port: number
    user: string
    password: string
    database: string
    options: { encrypt: false; trustServerCertificate: true }
    pool: { max: number; min: number }
  }
  /** The rows of a table (`dbo.users`) as plain objects. */
  rows(table: string): Record<string, Value>[]
  /** Adds a fault for a coming request. */
  inject(fault: Fault): void
  /** Drops the connection of the request after the next `after` statement requests (RPC and batches). */
  dropConnectionAfter(after: number, options?: { execute?: boolean }): void
  clearStatements(): void
  /** Removes the faults not yet used. */
  clearFaults(): void
  /** Open connections. */
  readonly connections: number
  /** Requests cancelled by an ATTENTION while a `delay` fault held them. */
  readonly cancelled: number
  /**
   * A server restart: stops listening and closes every connection (open transactions roll back),
   * stays down for `downMs`, then listens again on the same port. Tables and rows are kept.
   */
  restart(options?: { downMs?: number }): Promise<void>
  close(): Promise<void>
}

interface Connection {
  readonly id: number
  readonly socket: Socket
  readonly session: Session
  state: 'prelogin' | 'login' | 'ready'
  packetSize: number
  packetId: number
  /** A request a `delay` fault holds back. */
  held?: { readonly timer: NodeJS.Timeout; readonly statement: RecordedStatement }
}

const SERVER_NAME = 'hydrator-tds-test'

/**
 * Starts a TDS test server on 127.0.0.1 and a free port.
 *
 * @example
 * const server = await startTdsServer()
 * const pool = await new sql.ConnectionPool(server.config()).connect()
 * await pool.request().query('CREATE TABLE dbo.users (id nvarchar(64) NOT NULL PRIMARY KEY)')
 * await server.close()
 */
export async function startTdsServer(options: TdsServerOptions = {}): Promise<TdsServer> {
  const user = options.user ?? 'sa'
  const password = options.password ?? 'Hydrator-test-1'
  const database = options.database ?? 'hydrator'
  const db = new Database({ name: database })
  const statements: RecordedStatement[] = []
  const faults: Fault[] = []
  let nextConnectionId = 1
  let nextTransaction = 1
  let cancelled = 0

  const send = (c: Connection, type: number, payload: Buffer) => {
    if (c.socket.destroyed) return
    for (const p of packets(type, payload, c.packetSize, () => c.packetId++)) c.socket.write(p)
  }

  const takeFault = (statement: RecordedStatement): Fault | undefined => {
    const i = faults.findIndex((f) => f.when(statement))
    if (i === -1) return undefined
    const f = faults[i]!
    f.times = (f.times ?? 1) - 1
    if (f.times <= 0) faults.splice(i, 1)
    return f
  }

  const dropConnection = (c: Connection) => {
    if (c.held) clearTimeout(c.held.timer)
    c.held = undefined
    rollbackOnClose(c)
    c.socket.destroy()
  }

  const rollbackOnClose = (c: Connection) => {
    if (c.session.transaction) {
      db.rollback(c.session.transaction)
      c.session.transaction = null
    }
  }

  /** The request must carry the transaction it runs in (tedious sends it in ALL_HEADERS). */
  const checkDescriptor = (c: Connection, headers: Headers): SqlError | undefined => {
    const txn = c.session.transaction
    const zero = headers.transactionDescriptor.every((b) => b === 0)
    if (txn && !txn.descriptor.equals(headers.transactionDescriptor)) {
      return new SqlError(3989, 'New request is not allowed to start because it should come with valid transaction descriptor.')
    }
    if (!txn && !zero) return new SqlError(3989, 'New request is not allowed to start because it should come with valid transaction descriptor.')
    return undefined
  }

  const errorTokens = (errors: readonly SqlError[]) => Buffer.concat(errors.map((e) => errorToken({ number: e.number, message: e.message, severity: e.severity, state: e.state }, SERVER_NAME)))

  const resultTokens = (results: readonly StatementResult[], doneToken: number, finalWhenLast: boolean, failed: boolean): Buffer[] => {
    const out: Buffer[] = []
    results.forEach((r, i) => {
      if (r.columns) {
        out.push(colMetadata(r.columns))
        for (const values of r.rows ?? []) out.push(row(r.columns, values))
      }
      const last = finalWhenLast && !failed && i === results.length - 1
      const status = (last ? DONE_STATUS.FINAL : DONE_STATUS.MORE) | (r.rowCount !== undefined ? DONE_STATUS.COUNT : 0)
      out.push(done(doneToken, status, r.curCmd, r.rowCount ?? 0))
    })
    return out
  }

  const handleLogin = (c: Connection, payload: Buffer) => {
    const login = readLogin7(payload)
    c.packetSize = Math.min(Math.max(login.packetSize || 4096, 512), 32767)
    const fail = (messages: SqlError[]) => {
      const tokens = [...messages.map((m) => errorToken({ number: m.number, message: m.message, severity: 14, state: 1 }, SERVER_NAME)), done(TOKEN.DONE, DONE_STATUS.ERROR, 0, 0)]
      c.packetSize = 4096
      send(c, PACKET.TABULAR_RESULT, Buffer.concat(tokens))
      c.socket.end()
    }
    if (login.tdsVersion < 0x74000004) {
      return fail([new SqlError(18456, `Login failed for user '${login.userName}'. (the TDS test server speaks TDS 7.4 only)`)])
    }
    if (login.userName !== user || login.password !== password) {
      return fail([new SqlError(18456, `Login failed for user '${login.userName}'.`)])
    }
    if (login.database && login.database.toLowerCase() !== database.toLowerCase()) {
      return fail([
        new SqlError(4060, `Cannot open database "${login.database}" requested by the login. The login failed.`),
        new SqlError(18456, `Login failed for user '${login.userName}'.`),
      ])
    }
    c.state = 'ready'
    const tokens = [
      envChangeString(ENV.DATABASE, database, 'master'),
      infoToken({ number: 5701, message: `Changed database context to '${database}'.`, state: 2 }, SERVER_NAME),
      envChangeBytes(ENV.SQL_COLLATION, COLLATION, Buffer.alloc(0)),
      envChangeString(ENV.LANGUAGE, 'us_english', ''),
      infoToken({ number: 5703, message: 'Changed language setting to us_english.', state: 1 }, SERVER_NAME),
      loginAck('Microsoft SQL Server'),
      featureExtAck(),
      envChangeString(ENV.PACKET_SIZE, String(c.packetSize), '4096'),
      done(TOKEN.DONE, DONE_STATUS.FINAL, 0, 0),
    ]
    // The login answer goes out in 4096-byte packets; the negotiated size applies afterwards.
    const size = c.packetSize
    c.packetSize = 4096
    send(c, PACKET.TABULAR_RESULT, Buffer.concat(tokens))
    c.packetSize = size
  }

  const handleSqlBatch = (c: Connection, payload: Buffer, resumed?: RecordedStatement) => {
    const { headers, sql } = readSqlBatch(payload)
    const statement: RecordedStatement = resumed ?? { connection: c.id, kind: 'sql-batch', sql, params: [], rpcParameterCount: 0, inTransaction: c.session.transaction !== null }
    if (!resumed) statements.push(statement)
    if (!resumed && applyFault(c, statement, (s) => handleSqlBatch(c, payload, s))) return
    const tokens: Buffer[] = []
    const descriptorError = checkDescriptor(c, headers)
    if (descriptorError) {
      statement.error = { number: descriptorError.number, message: descriptorError.message }
      return send(c, PACKET.TABULAR_RESULT, Buffer.concat([errorTokens([descriptorError]), done(TOKEN.DONE, DONE_STATUS.ERROR, 0, 0)]))
    }
    const descriptor = c.session.transaction?.descriptor ?? Buffer.alloc(8)
    const { results, error, rolledBack } = db.execute(sql, new Map(), c.session)
    statement.rowCounts = results.map((r) => r.rowCount ?? 0)
    tokens.push(...resultTokens(results, TOKEN.DONE, true, error !== undefined))
    if (error) {
      statement.error = { number: error.errors[0]!.number, message: error.errors[0]!.message }
      tokens.push(errorTokens(error.errors))
      if (rolledBack) tokens.push(envChangeBytes(ENV.ROLLBACK_TXN, Buffer.alloc(0), descriptor))
      tokens.push(done(TOKEN.DONE, DONE_STATUS.ERROR, 0, 0))
    } else if (results.length === 0) {
      tokens.push(done(TOKEN.DONE, DONE_STATUS.FINAL, 0, 0))
    }
    reply(c, statement, tokens)
  }

  const reply = (c: Connection, statement: RecordedStatement, tokens: Buffer[]) => {
    if ((statement as { dropAfterExecute?: boolean }).dropAfterExecute) return dropConnection(c)
    send(c, PACKET.TABULAR_RESULT, Buffer.concat(tokens))
  }

  /** Applies an injected fault; true when the request is answered (or dropped, or held) already. */
  const applyFault = (c: Connection, statement: RecordedStatement, resume: (statement: RecordedStatement) => void): boolean => {
    const fault = takeFault(statement)
    if (!fault) return false
    if (fault.kind === 'delay') {
      const timer = setTimeout(() => {
        c.held = undefined
        if (!c.socket.destroyed) resume(statement)
      }, fault.ms ?? 1000)
      c.held = { timer, statement }
      return true
    }
    if (fault.kind === 'drop') {
      if (fault.execute) {
        ;(statement as { dropAfterExecute?: boolean }).dropAfterExecute = true
        return false
      }
      statement.error = { number: -1, message: 'connection dropped by the test server before running the request' }
      dropConnection(c)
      return true
    }
    const e = new SqlError(fault.number ?? 1205, fault.message ?? 'Transaction (Process ID 53) was deadlocked on lock resources with another process and has been chosen as the deadlock victim. Rerun the transaction.', fault.number === 1205 || fault.number === undefined ? 13 : 16)
    statement.error = { number: e.number, message: e.message }
    const doneToken = statement.kind === 'rpc' ? TOKEN.DONEPROC : TOKEN.DONE
    const tokens: Buffer[] = [errorTokens([e])]
    const txn = c.session.transaction
    if (e.number === 1205 && txn) {
      // A deadlock victim's transaction is rolled back by the server.
      db.rollback(txn)
      c.session.transaction = null
      tokens.push(envChangeBytes(ENV.ROLLBACK_TXN, Buffer.alloc(0), txn.descriptor))
    }
    tokens.push(done(doneToken, DONE_STATUS.ERROR, 0, 0))
    send(c, PACKET.TABULAR_RESULT, Buffer.concat(tokens))
    return true
  }

  const handleRpc = (c: Connection, payload: Buffer, resumed?: RecordedStatement) => {
    const statement: RecordedStatement & { params: RecordedParameter[] } = {
      connection: c.id,
      kind: 'rpc',
      params: [],
      rpcParameterCount: 0,
      inTransaction: resumed?.inTransaction ?? c.session.transaction !== null,
    }
    const descriptor = c.session.transaction?.descriptor ?? Buffer.alloc(8)
    const fail = (errors: readonly SqlError[], rolledBack = false) => {
      statement.error ??= { number: errors[0]!.number, message: errors[0]!.message }
      const tokens: Buffer[] = [errorTokens(errors)]
      if (rolledBack) tokens.push(envChangeBytes(ENV.ROLLBACK_TXN, Buffer.alloc(0), descriptor))
      tokens.push(returnStatus(0), done(TOKEN.DONEPROC, DONE_STATUS.ERROR, 0, 0))
      reply(c, statement, tokens)
    }
    let rpc
    try {
      rpc = readRpc(payload)
    } catch (error) {
      statements.push(statement)
      if (error instanceof UnsupportedRequestError) return fail([new SqlError(50000, `${error.message}`)])
      throw error
    }
    ;(statement as { rpcParameterCount: number }).rpcParameterCount = rpc.parameters.length
    const [stmt, decl, ...rest] = rpc.parameters
    if (rpc.procedure === 'sp_executesql' && stmt && typeof stmt.value === 'string') (statement as { sql?: string }).sql = stmt.value
    if (!resumed) statements.push(statement)
    if (!resumed && applyFault(c, statement, (s) => handleRpc(c, payload, s))) return
    const descriptorError = checkDescriptor(c, rpc.headers)
    if (descriptorError) return fail([descriptorError])
    if (rpc.parameters.length > MAX_RPC_PARAMETERS) {
      return fail([new SqlError(8003, `The incoming request has too many parameters. The server supports a maximum of ${MAX_RPC_PARAMETERS} parameters. Reduce the number of parameters and resend the request.`)])
    }
    if (rpc.procedure !== 'sp_executesql') return fail([new SqlError(2812, `Could not find stored procedure '${rpc.procedure}'.`)])
    const isText = (p: RpcParameter | undefined) => p !== undefined && ['nvarchar', 'nchar'].includes(p.type.name) && typeof p.value === 'string'
    if (!isText(stmt)) return fail([new SqlError(214, "Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'.")])
    if (decl !== undefined && !isText(decl)) return fail([new SqlError(214, "Procedure expects parameter '@params' of type 'ntext/nchar/nvarchar'.")])
    const sql = stmt!.value as string
    let declared: { name: string; type: SqlType }[] = []
    try {
      declared = decl ? parseParamDeclarations(decl.value as string) : []
    } catch (error) {
      return fail(error instanceof SqlErrors ? error.errors : [error instanceof SqlError ? error : new SqlError(50000, String(error))])
    }
    const params = new Map<string, TypedValue>()
    if (rest.length > declared.length) return fail([new SqlError(8144, 'Procedure or function has too many arguments specified.')])
    for (let i = 0; i < declared.length; i++) {
      const d = declared[i]!
      const supplied = rest.find((p) => p.name.toLowerCase() === d.name.toLowerCase()) ?? (rest[i]?.name === '' ? rest[i] : undefined)
      if (!supplied) {
        return fail([new SqlError(8178, `The parameterized query '(${decl!.value as string})${sql.slice(0, 40)}' expects the parameter '@${d.name}', which was not supplied.`)])
      }
      let value: Value
      try {
        value = convert({ v: supplied.value, t: supplied.type }, d.type)
      } catch (error) {
        return fail([error as SqlError])
      }
      params.set(d.name.toLowerCase(), { v: value, t: d.type })
      statement.params.push({ name: d.name, type: typeToString(d.type), wireType: typeToString(supplied.type), value })
    }
    for (const p of rest) {
      if (p.name && !declared.some((d) => d.name.toLowerCase() === p.name.toLowerCase())) {
        return fail([new SqlError(8145, `@${p.name} is not a parameter for procedure sp_executesql.`)])
      }
    }
    const { results, error, rolledBack } = db.execute(sql, params, c.session)
    statement.rowCounts = results.map((r) => r.rowCount ?? 0)
    const tokens = resultTokens(results, TOKEN.DONEINPROC, false, error !== undefined)
    if (error) {
      statement.error = { number: error.errors[0]!.number, message: error.errors[0]!.message }
      return fail(error.errors, rolledBack)
    }
    tokens.push(returnStatus(0), done(TOKEN.DONEPROC, DONE_STATUS.FINAL, 0, 0))
    reply(c, statement, tokens)
  }

  const handleTransaction = (c: Connection, payload: Buffer, resumed?: RecordedStatement) => {
    const request = readTransactionManager(payload)
    const kind = request.kind === 'begin' || request.kind === 'commit' || request.kind === 'rollback' ? request.kind : undefined
    const statement: RecordedStatement = resumed ?? { connection: c.id, kind: kind ?? 'begin', params: [], rpcParameterCount: 0, inTransaction: c.session.transaction !== null }
    if (!resumed) statements.push(statement)
    const fail = (e: SqlError) => {
      statement.error = { number: e.number, message: e.message }
      reply(c, statement, [errorTokens([e]), done(TOKEN.DONE, DONE_STATUS.ERROR, 0, 0)])
    }
    if (!resumed && applyFault(c, statement, (s) => handleTransaction(c, payload, s))) return
    if (!kind) return fail(new SqlError(50000, `the TDS test server does not support transaction manager request ${request.kind}`))
    const txn = c.session.transaction
    if (kind === 'begin') {
      if (txn) return fail(new SqlError(50000, 'the TDS test server does not support nested transactions'))
      const descriptor = Buffer.alloc(8)
      descriptor.writeBigUInt64LE(BigInt(nextTransaction++))
      const created: Transaction = { descriptor, log: [] }
      c.session.transaction = created
      return reply(c, statement, [envChangeBytes(ENV.BEGIN_TXN, descriptor, Buffer.alloc(0)), done(TOKEN.DONE, DONE_STATUS.FINAL, 0, 0)])
    }
    if (!txn) {
      return fail(
        kind === 'commit'
          ? new SqlError(3902, 'The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.')
          : new SqlError(3903, 'The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.'),
      )
    }
    if (!txn.descriptor.equals(request.headers.transactionDescriptor)) {
      return fail(new SqlError(3989, 'New request is not allowed to start because it should come with valid transaction descriptor.'))
    }
    if (kind === 'rollback') db.rollback(txn)
    c.session.transaction = null
    reply(c, statement, [envChangeBytes(kind === 'commit' ? ENV.COMMIT_TXN : ENV.ROLLBACK_TXN, Buffer.alloc(0), txn.descriptor), done(TOKEN.DONE, DONE_STATUS.FINAL, 0, 0)])
  }

  const handleMessage = (c: Connection, type: number, status: number, payload: Buffer) => {
    if (c.state === 'prelogin') {
      if (type !== PACKET.PRELOGIN) return dropConnection(c)
      c.state = 'login'
      return send(c, PACKET.TABULAR_RESULT, preloginResponse())
    }
    if (c.state === 'login') {
      if (type !== PACKET.LOGIN7) return dropConnection(c)
      return handleLogin(c, payload)
    }
    if (status & STATUS_RESET_CONNECTION) {
      rollbackOnClose(c)
      c.session.options.clear()
      c.session.xactAbort = false
    }
    switch (type) {
      case PACKET.SQL_BATCH:
        return handleSqlBatch(c, payload)
      case PACKET.RPC_REQUEST:
        return handleRpc(c, payload)
      case PACKET.TRANSACTION_MANAGER:
        return handleTransaction(c, payload)
      case PACKET.ATTENTION:
        // A held request is cancelled without running; any other was answered already. Either way
        // the server acknowledges with DONE(ATTN), the last thing the client reads for the request.
        if (c.held) {
          clearTimeout(c.held.timer)
          c.held.statement.error = { number: 3617, message: 'cancelled by the client (attention)' }
          c.held = undefined
          cancelled++
          // The cancelled request still gets its (empty) response message; the acknowledgement
          // follows as a message of its own, which is where the client looks for it.
          send(c, PACKET.TABULAR_RESULT, done(TOKEN.DONE, DONE_STATUS.FINAL, 0, 0))
        }
        return send(c, PACKET.TABULAR_RESULT, done(TOKEN.DONE, DONE_STATUS.ATTN, 0, 0))
      default: {
        const e = new SqlError(50000, `the TDS test server does not support TDS message type 0x${type.toString(16)} (BULK LOAD is not supported)`)
        return send(c, PACKET.TABULAR_RESULT, Buffer.concat([errorTokens([e]), done(TOKEN.DONE, DONE_STATUS.ERROR, 0, 0)]))
      }
    }
  }

  const server: Server = createServer((socket) => {
    socket.setNoDelay(true)
    const c: Connection = {
      id: nextConnectionId++,
      socket,
      session: { transaction: null, xactAbort: false, options: new Map() },
      state: 'prelogin',
      packetSize: 4096,
      packetId: 1,
    }
    const assembler = new MessageAssembler()
    socket.on('data', (chunk) => {
      try {
        for (const m of assembler.push(chunk)) handleMessage(c, m.type, m.status, m.payload)
      } catch (error) {
        // A request the server cannot even read: say so where a developer will see it, then hang up.
        console.error(`tds-server: closing connection ${c.id}: ${error instanceof Error ? error.stack : String(error)}`)
        dropConnection(c)
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => rollbackOnClose(c))
  })

  const listening = await listenLocal(server)
  const port = listening.port

  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    database,
    statements,
    db,
    config: (extra = {}) => ({
      server: '127.0.0.1',
      port,
      user,
      password,
      database,
      options: { encrypt: false, trustServerCertificate: true },
      pool: { max: 10, min: 0 },
      ...extra,
    }),
    rows: (table) => db.rows(table),
    inject: (fault) => faults.push({ ...fault }),
    dropConnectionAfter(after, opts = {}) {
      let seen = 0
      faults.push({
        kind: 'drop',
        execute: opts.execute,
        when: (s) => (s.kind === 'rpc' || s.kind === 'sql-batch' ? seen++ >= after : false),
      })
    },
    clearStatements: () => void statements.splice(0),
    clearFaults: () => void faults.splice(0),
    get connections() {
      return listening.sockets.size
    },
    get cancelled() {
      return cancelled
    },
    restart: ({ downMs = 0 } = {}) => listening.restart(downMs),
    close: listening.close,
  }
}
