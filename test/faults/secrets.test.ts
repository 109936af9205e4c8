// Malformed URIs holding passwords: whatever is wrong with the URI, the CLI names the problem, exits
// with the right code, and the password appears nowhere in what it prints. Connections that could be
// tried go to 127.0.0.1:1, which refuses at once.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import { captured, events, ndjson, readableOf, tempDir } from '../helpers.js'

const test = suite('faults: secrets in malformed URIs')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir()
  await tmp.file('in.ndjson', ndjson(events(3).map((e, i) => ({ ...e, id: `e${i}` }))))
})
test.after(async () => {
  await tmp.cleanup()
})

const SECRETS = ['s3cretPW', 'ss3cretPW', '0therPW']
const MAPPING = ['--column', 'id=id', '--key', 'id', '--retry-attempts', '1']

async function hydrate(args: string[], env: Record<string, string> = {}) {
  const stdout = captured()
  const stderr = captured()
  const base = { ...process.env }
  for (const name of ['DATABASE_URL', 'OPENSEARCH_URL', 'PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE']) delete base[name]
  const code = await cli(args, { stdout, stderr, stdin: readableOf(''), env: { ...base, ...env }, cwd: tmp.dir })
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

function assertNoSecret(r: { stdout: string; stderr: string }, what: string): void {
  for (const secret of SECRETS) {
    assert.not.ok(r.stdout.includes(secret), `${what}: ${secret} on stdout: ${r.stdout}`)
    assert.not.ok(r.stderr.includes(secret), `${what}: ${secret} on stderr: ${r.stderr}`)
  }
}

/** URI errors: exit 2, the code and a message naming the problem, no password. */
const uriErrors: { name: string; args: string[]; code: string; says: RegExp; env?: Record<string, string> }[] = [
  { name: 'a scheme typo', args: ['--sink', 'postgress://u:s3cretPW@host/db'], code: 'ERR_UNKNOWN_SCHEME', says: /unknown sink scheme `postgress:` in `postgress:\/\/u:\*\*\*@host\/db`/ },
  { name: 'a # in the password', args: ['--sink', 'postgres://u:pa#s3cretPW@host/db?table=t', ...MAPPING], code: 'ERR_INVALID_URI', says: /`postgres:\/\/u:\*\*\*@host\/db\?table=t` is not a valid URL: .*percent-encoded.*%23/ },
  { name: 'a ? in the password', args: ['--sink', 'postgres://u:1234?s3cretPW@127.0.0.1:1/db?table=t', ...MAPPING], code: 'ERR_INVALID_URI', says: /percent-encoded/ },
  { name: 'a / in the password', args: ['--sink', 'postgres://u:12/s3cretPW@127.0.0.1:1/db?table=t', ...MAPPING], code: 'ERR_INVALID_URI', says: /percent-encoded/ },
  { name: 'a stray % in the password', args: ['--sink', 'postgres://u:p%zzs3cretPW@127.0.0.1:1/db?table=t', ...MAPPING], code: 'ERR_INVALID_URI', says: /%25/ },
  { name: 'no // after the scheme', args: ['--sink', 'postgres:u:s3cretPW@host/db', ...MAPPING], code: 'ERR_INVALID_URI', says: /`postgres:u:\*\*\*@host\/db` is not a PostgreSQL URI/ },
  { name: 'a port out of range', args: ['--sink', 'postgres://u:s3cretPW@host:99999/db?table=t', ...MAPPING], code: 'ERR_INVALID_URI', says: /the port 99999 is out of range/ },
  { name: 'an IPv6 host without its ]', args: ['--sink', 'postgres://u:s3cretPW@[::1/db?table=t', ...MAPPING], code: 'ERR_INVALID_URI', says: /the IPv6 address `\[::1` has no closing `\]`/ },
  { name: 'no host', args: ['--sink', 'postgres://u:s3cretPW@/db?table=t', ...MAPPING], code: 'ERR_INVALID_URI', says: /names no host/ },
  { name: 'a bad port among several hosts', args: ['--sink', 'postgres://u:s3cretPW@h1:5432,h2:70000/db?table=t', ...MAPPING], code: 'ERR_INVALID_URI', says: /the port 70000 is out of range/ },
  { name: 'an unencoded @ with several hosts', args: ['--sink', 'postgres://u:p@ss3cretPW@h1,h2/db?table=t', ...MAPPING], code: 'ERR_INVALID_URI', says: /%40/ },
  {
    name: 'a bad DATABASE_URL',
    args: ['--sink', 'postgres:?table=t', ...MAPPING],
    env: { DATABASE_URL: 'postgres://u:s3cretPW@host:99999/db' },
    code: 'ERR_INVALID_URI',
    says: /DATABASE_URL `postgres:\/\/u:\*\*\*@host:99999\/db` is not a valid URL: the port 99999/,
  },
  { name: 'SQL Server connection-string parameters', args: ['--sink', 'mssql://host/db?user=sa&pwd=s3cretPW&table=t', ...MAPPING], code: 'ERR_INVALID_URI', says: /unknown parameter `user` in `mssql:\/\/host\/db\?user=sa&pwd=\*\*\*&table=t`/ },
  { name: 'SQL Server Password= parameter', args: ['--sink', 'sqlserver://h/db?table=t&Password=s3cretPW', ...MAPPING], code: 'ERR_INVALID_URI', says: /unknown parameter `Password`/ },
  { name: 'SQL Server with a # in the password', args: ['--sink', 'mssql://sa:pa#s3cretPW@host/db?table=dbo.t', ...MAPPING], code: 'ERR_INVALID_URI', says: /percent-encoded/ },
  { name: 'SQL Server with a port out of range', args: ['--sink', 'mssql://sa:s3cretPW@host:99999/db?table=dbo.t', ...MAPPING], code: 'ERR_INVALID_URI', says: /the port 99999 is out of range/ },
  { name: 'OpenSearch with a port out of range', args: ['--sink', 'opensearch:http://u:s3cretPW@h:99999/idx?id=id'], code: 'ERR_INVALID_URI', says: /the port 99999 is out of range/ },
  { name: 'OpenSearch with a ? in the password', args: ['--sink', 'opensearch+https://u:9200?s3cretPW@h:9200/idx?id=id'], code: 'ERR_INVALID_URI', says: /percent-encoded/ },
  { name: 'a DynamoDB endpoint that does not parse', args: ['--sink', 'dynamo:t?endpoint=http://key:s3cretPW@[::1', ...MAPPING], code: 'ERR_INVALID_URI', says: /expected `endpoint` to be an http\(s\) URL/ },
  { name: 'a token in an unknown Lambda parameter', args: ['--sink', 'lambda:f?token=s3cretPW'], code: 'ERR_INVALID_URI', says: /unknown parameter `token` in `lambda:f\?token=\*\*\*`/ },
  {
    name: 'an option the PostgreSQL client refuses when it is made',
    args: ['--sink', 'postgres://u:s3cretPW@127.0.0.1:1/db?table=t&target_session_attrs=bogus', ...MAPPING],
    code: 'ERR_INVALID_URI',
    says: /`postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/db\?target_session_attrs=bogus`: target_session_attrs bogus is not supported/,
  },
  { name: 'no scheme at all', args: ['--sink', '//u:s3cretPW@host/db'], code: 'ERR_INVALID_URI', says: /is not a URI/ },
  { name: 'a source with a scheme typo', args: ['--source', 'opensearc:http://u:s3cretPW@h:9200/idx'], code: 'ERR_UNKNOWN_SCHEME', says: /unknown source scheme `opensearc:`/ },
  { name: 'a source with a port out of range', args: ['--source', 'opensearch:http://u:s3cretPW@h:99999/idx?sort=t,id'], code: 'ERR_INVALID_URI', says: /the port 99999 is out of range/ },
  { name: 'a source with an IPv6 host without its ]', args: ['--source', 'opensearch+https://u:s3cretPW@[::1/idx?sort=t,id'], code: 'ERR_INVALID_URI', says: /has no closing `\]`/ },
  {
    name: 'a bad OPENSEARCH_URL',
    args: ['--source', 'opensearch:idx?sort=t,id'],
    env: { OPENSEARCH_URL: 'http://u:s3cretPW@[::1:9200' },
    code: 'ERR_INVALID_URI',
    says: /OPENSEARCH_URL `http:\/\/u:\*\*\*@\[::1:9200` is not a valid URL/,
  },
  { name: 'a source endpoint holding a secret parameter', args: ['--source', 'dynamo:t?endpoint=ftp://h/x?X-Amz-Signature=s3cretPW'], code: 'ERR_INVALID_URI', says: /X-Amz-Signature=\*\*\*/ },
]

for (const c of uriErrors) {
  test(`${c.name}: exit 2, ${c.code}, the problem named, no password`, async () => {
    const args = c.args.includes('--source') ? [...c.args, '--sink', `ndjson:${tmp.dir}/out.ndjson`] : ['--source', 'json:in.ndjson', ...c.args]
    const r = await hydrate(args, c.env)
    assertNoSecret(r, c.name)
    assert.is(r.code, 2, r.stderr)
    assert.match(r.stderr, new RegExp(`^hydrate: ${c.code}: `))
    assert.match(r.stderr, c.says)
  })
}

test('an unencoded @ in a password still connects where the URL parser allows it, and the report hides the whole password', async () => {
  const r = await hydrate(['--source', 'json:in.ndjson', '--sink', 'postgres://u2:p@ss3cretPW@127.0.0.1:1/db?table=t', ...MAPPING, '--report', 'json'])
  assertNoSecret(r, 'postgres refused')
  assert.is(r.code, 1, r.stderr)
  assert.match(r.stderr, /ERR_CONNECTION/)
  assert.match(r.stdout + r.stderr, /postgres:\/\/u2:\*\*\*@127\.0\.0\.1:1\/db\?table=t/)
})

test('a refused SQL Server connection names the server without its password', async () => {
  const r = await hydrate(['--source', 'json:in.ndjson', '--sink', 'mssql://sa:p@ss3cretPW@127.0.0.1:1/db?table=dbo.t&encrypt=false&connectTimeoutMs=2000', ...MAPPING])
  assertNoSecret(r, 'mssql refused')
  assert.is(r.code, 1, r.stderr)
  assert.match(r.stderr, /ERR_CONNECTION: cannot connect to SQL Server for mssql:\/\/sa:\*\*\*@127\.0\.0\.1:1\/db/)
})

test('a malformed percent-encoding in a path is ERR_INVALID_URI, not an unexpected error', async () => {
  for (const args of [['--sink', 'lambda:f%zz'], ['--sink', 'dynamo:t%zz', ...MAPPING], ['--sink', 'ndjson:out%zz'], ['--sink', 'opensearch:http://h:9200/i%zz?id=id']]) {
    const r = await hydrate(['--source', 'json:in.ndjson', ...args])
    assert.is(r.code, 2, r.stderr)
    assert.match(r.stderr, /^hydrate: ERR_INVALID_URI: .*starts no percent-encoding/)
  }
  const source = await hydrate(['--source', 'json:in%zz.ndjson', '--sink', `ndjson:${tmp.dir}/out.ndjson`])
  assert.is(source.code, 2, source.stderr)
  assert.match(source.stderr, /ERR_INVALID_URI/)
})

// Needs the CLI's unexpected-error path (a stack for anything but a HydratorError) to redact too.
test("a plugin's own error holding a URI is printed without its password", async () => {
  await tmp.file(
    'leaky-plugin.mjs',
    "export default { name: 'leaky', sinks: { leaky: (uri) => { throw new TypeError(`Invalid URL: ${uri.uri.replace('leaky:', 'postgres:')}`) } } }\n",
  )
  const r = await hydrate(['--source', 'json:in.ndjson', '--plugin', './leaky-plugin.mjs', '--sink', 'leaky://u:s3cretPW@host/db'])
  assertNoSecret(r, 'a plugin error')
  assert.is(r.code, 1, r.stderr)
  assert.match(r.stderr, /Invalid URL: postgres:\/\/u:\*\*\*@host\/db/)
})

test.run()
