import type { Writable } from 'node:stream'
import { HydratorError, errorMessage } from '../errors.js'
import { withRetry, type RetryPolicy } from '../retry.js'
import type { PostgresClient, PostgresQuery } from './client.js'
import { copyText, type PgWrite } from './encode.js'
import { isConnectionLoss, isRetryable, sqlState } from './errors.js'
import type { Target } from './statements.js'

/**
 * Writes a batch with one COPY inside a transaction on a reserved connection; resolves false when
 * PostgreSQL rejected it (nothing written), rejects when the connection was lost.
 *
 * Two bugs of postgres 3.4.9 shape this. The stream of a COPY that PostgreSQL rejects never settles
 * (porsager/postgres#1173), so the outcome is read from the COMMIT that follows: an aborted
 * transaction answers ROLLBACK. And a query sent on a reserved connection that has closed crashes
 * the process from a timer (porsager/postgres#1208), so every query here is sent while the
 * connection is known to be open (BEGIN and COPY at once, COMMIT from inside the stream's final
 * step), and a connection that was lost is never queried or released again: the pool already
 * counts it as closed and reconnects it. A third: a query sent after the socket failed but before
 * it closed never settles, so the COMMIT is sent in the same microtask run as the end of the COPY.
 *
 * A connection lost after COMMIT was sent leaves the outcome unknown, and retrying a COPY that did
 * commit would insert the batch twice. So the transaction's id is asked for with BEGIN (pipelined,
 * no extra wait), and after such a loss {@link commitStatus} asks PostgreSQL whether it committed.
 */
export async function copyRows(sql: PostgresClient, target: Target, batch: readonly PgWrite[], retry: Required<RetryPolicy>): Promise<boolean> {
  let data = ''
  for (const { texts } of batch) {
    data += copyText(texts[0] ?? null)
    for (let i = 1; i < texts.length; i++) data += '\t' + copyText(texts[i] ?? null)
    data += '\n'
  }
  const connection = await sql.reserve()
  let lost = false
  let inTransaction = false
  let commitSent = false
  let xid: string | undefined
  try {
    connection.unsafe('begin').execute()
    inTransaction = true
    const xidQuery = connection.unsafe('select txid_current()::text as xid')
    xidQuery.execute()
    const stream = (await connection.unsafe(target.statements.copy).writable()) as Writable & {
      _final(callback: (error?: Error | null) => void): void
    }
    // Answered before the COPY started, so this does not wait.
    xid = String((await xidQuery)[0]!.xid)
    const settled = new Promise<{ commit?: PostgresQuery; rollback?: PostgresQuery; error?: unknown }>((resolve) => {
      stream.on('error', (error) => {
        if (!inTransaction) return
        inTransaction = false
        if (isConnectionLoss(error)) return resolve({ error })
        // PostgreSQL stopped the COPY early; the connection is open in this turn: end the transaction.
        const rollback = connection.unsafe('rollback')
        rollback.execute()
        resolve({ rollback, error })
      })
      const final = stream._final
      stream._final = function finalThenCommit(callback) {
        if (!inTransaction) return final.call(this, callback)
        inTransaction = false
        const commit = connection.unsafe('commit')
        commitSent = true
        // The end of the COPY and the COMMIT go out in one run of microtasks: the client sends a
        // query a microtask after execute(), and the end of the COPY runs in the microtask queued
        // before it. If writing the end fails (the backend is gone), the socket reports its error
        // after both, so the client fails the COMMIT with it. Sent the other way round, the COMMIT
        // reached the client after the error but before the close, and postgres 3.4.9 never settles
        // a query sent then: the sink hung for ever (test: "a socket that fails as the COPY ends").
        queueMicrotask(() => final.call(this, callback))
        commit.execute()
        resolve({ commit })
      }
    })
    stream.end(data)
    const { commit, rollback, error } = await settled
    if (rollback) await Promise.resolve(rollback).then(undefined, () => undefined)
    if (error) throw error
    const result = await commit!
    return result.command === 'COMMIT'
  } catch (error) {
    lost = isConnectionLoss(error)
    if (lost) {
      if (commitSent && xid !== undefined && (await commitStatus(sql, xid, target, batch.length, error, retry))) return true
      throw error
    }
    // Still in this turn of the failed query, so the connection is open: end the transaction.
    if (inTransaction) {
      inTransaction = false
      const rollback = connection.unsafe('rollback')
      rollback.execute()
      await Promise.resolve(rollback).then(undefined, () => undefined)
    }
    if (sqlState(error)) return false
    throw error
  } finally {
    if (!lost) connection.release()
  }
}

/**
 * Whether transaction `xid` committed, asked on a fresh connection after the one that sent its
 * COMMIT was lost: true if it did, false if it aborted (the batch may be retried). If PostgreSQL
 * cannot say within the sink's retry budget, the batch fails with ERR_CONNECTION rather than risk a duplicate.
 */
async function commitStatus(
  sql: PostgresClient,
  xid: string,
  target: Target,
  rows: number,
  lostWith: unknown,
  retry: Required<RetryPolicy>,
): Promise<boolean> {
  // The client keeps a query queued while it reconnects, so each attempt gets its own deadline.
  const wait = Math.min(Math.max(retry.maxDelayMs * 4, 1000), 10_000)
  const ask = async (): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${wait} ms`), { code: 'ETIMEDOUT' })), wait)
    })
    const [row] = await Promise.race([sql.unsafe('select txid_status($1::int8) as status', [xid]), deadline]).finally(() => clearTimeout(timer))
    const status = row?.status
    if (status === 'committed') return true
    if (status === 'aborted') return false
    // 'in progress': the server has not yet noticed the connection is gone.
    throw Object.assign(new Error(`transaction ${xid} is still ${String(status)}`), { code: IN_PROGRESS })
  }
  try {
    return await withRetry(ask, { ...retry, attempts: Math.max(retry.attempts, 3) }, {
      isRetryable: (error) => isRetryable(error) || (error as { code?: unknown }).code === IN_PROGRESS,
    })
  } catch (error) {
    throw new HydratorError(
      'ERR_CONNECTION',
      `the connection to ${target.display} was lost during COMMIT and PostgreSQL could not say whether transaction ${xid} committed ` +
        `(${errorMessage(error)}): the ${rows} rows of this batch may or may not be in the table; check before redriving them`,
      { cause: lostWith },
    )
  }
}

/** The code of a commitStatus attempt that found the transaction still in progress. */
const IN_PROGRESS = 'TXN_IN_PROGRESS'
