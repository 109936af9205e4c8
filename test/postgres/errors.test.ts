// The error classification the sink's retries rest on, without a server: what is retried, and which
// lost connections leave a self-committing statement's outcome unknown.
import { createRequire } from 'node:module'
import postgres from 'postgres'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HydratorError } from '../../lib/errors.js'
import { isAmbiguousLoss, isConnectionLoss, isRetryable, sqlState } from '../../lib/postgres/errors.js'

const test = suite('PostgreSQL error classification')
const coded = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code })

test('a server error is told apart by its SQLSTATE, whichever copy of `postgres` made it (ESM or CommonJS)', () => {
  const cjs = createRequire(import.meta.url)('postgres') as typeof postgres
  assert.is.not(cjs.PostgresError, postgres.PostgresError, 'two classes: instanceof against ours would miss the other')
  for (const PostgresError of [postgres.PostgresError, cjs.PostgresError]) {
    const error = new (PostgresError as unknown as new (x: object) => Error)({ message: 'duplicate key', code: '23505', severity: 'ERROR' })
    assert.is(sqlState(error), '23505')
  }
  assert.is(sqlState(coded('ECONNRESET')), undefined)
})

test('lost and refused connections are retried, Node codes and postgres.js codes alike; an ended client is not', () => {
  for (const code of ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'CONNECTION_CLOSED', 'CONNECT_TIMEOUT']) {
    assert.ok(isRetryable(coded(code)), code)
    assert.ok(isConnectionLoss(coded(code)), code)
  }
  for (const code of ['CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'UNDEFINED_VALUE']) assert.not.ok(isRetryable(coded(code)), code)
})

test('a COMMIT whose outcome is unknown is not retried, although its cause is a lost connection', () => {
  const unknown = new HydratorError('ERR_CONNECTION', 'the connection was lost during COMMIT (read ECONNRESET)', { cause: coded('ECONNRESET') })
  assert.not.ok(isRetryable(unknown))
  assert.not.ok(isConnectionLoss(unknown))
})

test('only a connection that may have run the statement is an ambiguous loss: refused, unresolved or unreachable ones never did', () => {
  for (const code of ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'CONNECTION_CLOSED']) assert.ok(isAmbiguousLoss(coded(code)), code)
  for (const code of ['ECONNREFUSED', 'CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN']) assert.not.ok(isAmbiguousLoss(coded(code)), code)
  const shutdown = new postgres.PostgresError({ message: 'terminating connection', code: '57P01', severity: 'FATAL' } as never)
  assert.not.ok(isAmbiguousLoss(shutdown), 'a server error arrives instead of the result: the statement did not commit')
  assert.ok(isRetryable(shutdown))
})

test.run()
