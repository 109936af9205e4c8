import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HydratorError } from '../../lib/errors.js'
import { redactUri } from '../../lib/util/options.js'
import { redactSecrets } from '../../lib/util/redact.js'

const test = suite('redactSecrets')

/** Asserts the secret is gone and the output is exactly `expected`. */
function redacts(input: string, expected: string, secret: string): void {
  const out = redactSecrets(input)
  assert.is(out, expected, input)
  assert.not.ok(out.includes(secret), `${secret} leaked from ${input}: ${out}`)
}

test('masks the password of scheme://user:password@host and keeps the user, host and path', () => {
  redacts('postgres://app:hunter2@db:5432/app?table=t', 'postgres://app:***@db:5432/app?table=t', 'hunter2')
  redacts('mssql://sa:hunter2@127.0.0.1/shop', 'mssql://sa:***@127.0.0.1/shop', 'hunter2')
  redacts('opensearch:https://admin:hunter2@search:9200/events', 'opensearch:https://admin:***@search:9200/events', 'hunter2')
})

test('a password holding an unencoded @ is masked whole, up to the last @ before the path', () => {
  redacts('postgres://u2:p@ss3cretPW@host/db', 'postgres://u2:***@host/db', 'ss3cretPW')
  redacts('postgres://u:a@b@c@host:1/db?table=t', 'postgres://u:***@host:1/db?table=t', 'a@b@c')
})

test('a password holding #, ?, /, : or // is masked whole', () => {
  redacts('postgres://u:pa#s3cretPW@host/db', 'postgres://u:***@host/db', 's3cretPW')
  redacts('postgres://u:pa?s3cretPW@host/db', 'postgres://u:***@host/db', 's3cretPW')
  redacts('postgres://u:pa/s3cretPW@host/db', 'postgres://u:***@host/db', 's3cretPW')
  redacts('postgres://u:pa:s3cretPW@host/db', 'postgres://u:***@host/db', 's3cretPW')
  redacts('postgres://u:pa//s3cretPW@host/db', 'postgres://u:***@host/db', 's3cretPW')
  redacts('postgres://u:1234#s3cretPW@host/db', 'postgres://u:***@host/db', 's3cretPW')
})

test('an @ in a later query string does not swallow the host', () => {
  redacts('postgres://u:s3cretPW@host/db?email=a@b.com', 'postgres://u:***@host/db?email=a@b.com', 's3cretPW')
  assert.is(redactSecrets('postgres://app@host/db?email=a@b.com'), 'postgres://app@host/db?email=a@b.com')
})

test('a user without a password is left alone: user names are not secret', () => {
  for (const text of ['postgres://app@host/db', 'postgres://app@host/db?table=t', 'ssh://git@github.com/org/repo', 'postgres://u:@host/db']) {
    assert.is(redactSecrets(text), text)
  }
})

test('without //, everything between the first colon after the scheme and the @ goes', () => {
  redacts('postgres:u:s3cretPW@host/db', 'postgres:u:***@host/db', 's3cretPW')
  redacts('u:s3cretPW@host:5432/db', 'u:***@host:5432/db', 's3cretPW')
  redacts('postgres:u:p@s3cretPW@host/db', 'postgres:u:***@host/db', 's3cretPW')
  redacts('jdbc:postgresql:u:s3cretPW@host/db', 'jdbc:postgresql:***@host/db', 's3cretPW')
  // The user may go too, the password never stays.
  redacts('postgres:s3cretPW@host/db', 'postgres:***@host/db', 's3cretPW')
})

test('URIs in backticks, quotes, parentheses, or several in one message', () => {
  redacts(
    'unknown sink scheme `postgress:` in `postgress://u:s3cretPW@host/db`; known sink schemes: ndjson:, postgres:',
    'unknown sink scheme `postgress:` in `postgress://u:***@host/db`; known sink schemes: ndjson:, postgres:',
    's3cretPW',
  )
  redacts(
    `cannot copy from 'postgres://a:s3cretPW@h1/db' to "mssql://b:0therPW@h2/db" (via u:thirdPW@h3)`,
    `cannot copy from 'postgres://a:***@h1/db' to "mssql://b:***@h2/db" (via u:***@h3)`,
    's3cretPW',
  )
  redacts('a=postgres://u:s3cretPW@h/x,b=postgres://v:0therPW@h/y', 'a=postgres://u:***@h/x,b=postgres://v:***@h/y', '0therPW')
  redacts('[postgres://u:s3cretPW@h]', '[postgres://u:***@h]', 's3cretPW')
})

test('masks password-like query parameters, whatever their case', () => {
  redacts('mssql://host/db?user=sa&pwd=s3cretPW&table=t', 'mssql://host/db?user=sa&pwd=***&table=t', 's3cretPW')
  redacts('mssql://host/db?user=sa&password=s3cretPW', 'mssql://host/db?user=sa&password=***', 's3cretPW')
  redacts('mssql://host/db?User=sa&Password=s3cretPW', 'mssql://host/db?User=sa&Password=***', 's3cretPW')
  const names = [
    'pwd', 'pass', 'passwd', 'password', 'PASSWORD', 'secret', 'token', 'api_key', 'apikey', 'api-key', 'API_KEY', 'access_key',
    'secret_access_key', 'session_token', 'X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Security-Token', 'x-amz-signature',
    'sig', 'signature', 'client_secret', 'access_token', 'dbPassword',
  ]
  for (const name of names) {
    redacts(`https://bucket.s3/key?a=1&${name}=s3cretPW&b=2`, `https://bucket.s3/key?a=1&${name}=***&b=2`, 's3cretPW')
    redacts(`x?${name}=s3cretPW`, `x?${name}=***`, 's3cretPW')
  }
})

test('masks connection-string parameters: ;Password=...; and quoted or braced values', () => {
  redacts('Server=db;User Id=sa;Password=s3cretPW;Database=shop', 'Server=db;User Id=sa;Password=***;Database=shop', 's3cretPW')
  redacts('Server=db;Pwd=s3cretPW', 'Server=db;Pwd=***', 's3cretPW')
  redacts('Server=db;Password="s3cret PW;x";Database=shop', 'Server=db;Password=***;Database=shop', 's3cret')
  redacts('Server=db;PWD={s3cret;PW};Database=shop', 'Server=db;PWD=***;Database=shop', 's3cret')
  redacts('login failed (password = s3cretPW)', 'login failed (password = ***', 's3cretPW')
})

test('a parameter value ends at &, ;, whitespace, a backtick or a quote', () => {
  assert.is(redactSecrets('`x?token=s3cretPW` and more'), '`x?token=***` and more')
  assert.is(redactSecrets('"x?token=s3cretPW", more'), '"x?token=***", more')
  assert.is(redactSecrets("'x?token=s3cretPW'"), "'x?token=***'")
  assert.is(redactSecrets('x?token=s3cretPW\ny'), 'x?token=***\ny')
})

test('a parameter holding @ after a port is masked whole, not split by the userinfo rule', () => {
  const out = redactSecrets('mssql://host:1433/db?user=sa&pwd=p@s3cretPW')
  assert.not.match(out, /s3cretPW/)
  assert.not.match(redactSecrets('postgres://u:p&pass=x@s3cretPW@h/db'), /s3cretPW|p&/)
})

test('text without secrets comes back unchanged', () => {
  const same = [
    '',
    'json:./events.ndjson',
    'dynamo:table?endpoint=http%3A%2F%2F127.0.0.1%3A8000',
    'dynamo:events?endpoint=http://127.0.0.1:8000&region=eu-west-1',
    'lambda:fn',
    'lambda:arn:aws:lambda:eu-west-1:123456789012:function:my-function:live',
    './node_modules/@aws-sdk/x',
    '/work/node_modules/@aws-sdk/client-dynamodb/dist-cjs/index.js:12:5',
    'at send (file:///work/node_modules/@smithy/core/dist/index.js:40:7)',
    'at f (C:\\work\\node_modules\\@aws-sdk\\x.js:1:2)',
    'contact a@b.com',
    'write to <ops@example.com>: ERR_X: something@else',
    'git@github.com:org/repo.git',
    '2024-01-01T00:00:00Z',
    'host:5432',
    'opensearch:http://localhost:9200/events?sort=time,id',
    'postgres://app@localhost/app?table=orders',
    'expected `batchSize` to be an integer >= 1, got `0`',
    'line 3: Unexpected token } in JSON at position 12',
    'detail.amount: expected a number, got "a@b.com"',
    'unknown parameter `bogus` in `mssql://app@db:1433/shop?table=dbo.t&bogus=1`; known: table, mode',
    'sortKey=begins_with(2024) pageToken keyword=a',
  ]
  for (const text of same) assert.is(redactSecrets(text), text)
})

test('over-redacts rather than leaks where a password cannot be told apart', () => {
  // `9200/x?q=a` could be the password of user `h`: it goes, the host after the @ stays.
  assert.is(redactSecrets('http://h:9200/x?q=a@b.com'), 'http://h:***@b.com')
  assert.is(redactSecrets('{"email":"a@b.com"}'), '{"email":***@b.com"}')
})

test('runs in linear time: 1 MB of hostile text takes well under a second', () => {
  const mb = 1 << 20
  const hostile = [
    'a:'.repeat(mb / 2),
    '@'.repeat(mb),
    '@/'.repeat(mb / 2),
    'a:@/'.repeat(mb / 4),
    '//a:'.repeat(mb / 4) + '@',
    'a:'.repeat(mb / 2) + '@=',
    'a-'.repeat(mb / 2) + '=x@',
    'password='.repeat(mb / 9),
    'pass'.repeat(mb / 4) + '=x',
    '&x='.repeat(mb / 3),
    ';password=a@b:'.repeat(mb / 14),
    '"password="'.repeat(mb / 11),
  ]
  for (const text of hostile) {
    const started = performance.now()
    redactSecrets(text)
    const ms = performance.now() - started
    assert.ok(ms < 1000, `${JSON.stringify(text.slice(0, 12))}... took ${Math.round(ms)} ms`)
  }
})

test('redactUri is redactSecrets, and every HydratorError message is redacted', () => {
  assert.is(redactUri('postgres://u2:p@ss3cretPW@host/db'), 'postgres://u2:***@host/db')
  const error = new HydratorError('ERR_INVALID_URI', 'bad `postgres://u:s3cretPW@h:99999/db` (token=0therPW)')
  // A value runs to whitespace, &, ;, a quote or a backtick: the `)` goes with it.
  assert.is(error.message, 'bad `postgres://u:***@h:99999/db` (token=***')
  assert.not.match(String(error.stack), /s3cretPW|0therPW/)
})

test.run()
