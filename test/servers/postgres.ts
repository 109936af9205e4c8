import { execFile, execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { chmod, chown, mkdtemp, rm, writeFile, appendFile, readFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import postgres, { type Sql } from 'postgres'

const run = promisify(execFile)
const PG_ROOT = '/usr/lib/postgresql'

/** A throwaway PostgreSQL cluster on 127.0.0.1 (trust auth), owned by the test that started it. */
export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string
  readonly port: number
  /** The major version that runs, e.g. `15`. */
  readonly version: string
  /** An admin client on the `postgres` database; ended by `stop()`. */
  readonly sql: Sql
  /** Stops the cluster at once (`pg_ctl stop -m immediate`) and removes its files. */
  stop(): Promise<void>
  /**
   * Restarts the server on the same port with the same data directory, as an operator would:
   * `pg_ctl stop` (`fast` by default: sessions are terminated with 57P01, open transactions roll
   * back), then, after `downMs`, `pg_ctl start`. Resolves once it accepts connections again.
   * `onDown` runs while the server is stopped.
   */
  restart(options?: { mode?: 'smart' | 'fast' | 'immediate'; downMs?: number; onDown?: () => unknown }): Promise<void>
}

/** The `bin` directory of the highest PostgreSQL version installed by Debian's packages. */
export function findPostgresBin(): { bin: string; version: string } {
  // Elsewhere (macOS, Windows runners): POSTGRES_BIN names the folder holding initdb and pg_ctl.
  const given = process.env.POSTGRES_BIN
  if (given) {
    const exe = process.platform === 'win32' ? '.exe' : ''
    if (!existsSync(path.join(given, `initdb${exe}`)) || !existsSync(path.join(given, `pg_ctl${exe}`))) throw new Error(`POSTGRES_BIN=${given} holds no initdb and pg_ctl`)
    const printed = execFileSync(path.join(given, `pg_ctl${exe}`), ['--version'], { encoding: 'utf8' })
    return { bin: given, version: /(\d+)(?:\.\d+)?/.exec(printed)?.[1] ?? 'unknown' }
  }
  const versions = existsSync(PG_ROOT)
    ? readdirSync(PG_ROOT)
        .filter((v) => existsSync(path.join(PG_ROOT, v, 'bin', 'initdb')) && existsSync(path.join(PG_ROOT, v, 'bin', 'pg_ctl')))
        .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : []
  if (versions.length === 0) {
    throw new Error(
      `no PostgreSQL server binaries in ${PG_ROOT}/*/bin (initdb, pg_ctl): install them with \`apt-get install postgresql\` (CI installs it)`,
    )
  }
  return { bin: path.join(PG_ROOT, versions[0]!, 'bin'), version: versions[0]! }
}

/** A port that was free a moment ago: listen on port 0, read it, close. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function postgresUser(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    return { uid, gid }
  } catch {
    throw new Error('running as root, but there is no `postgres` user to run the server as: `apt-get install postgresql` creates it')
  }
}

/**
 * Starts a fresh PostgreSQL cluster in a temporary directory: trust auth on 127.0.0.1 only, a free
 * port, the unix socket inside the directory, fsync off. As root, the cluster belongs to the
 * `postgres` user (PostgreSQL refuses to run as root). Resolves once it accepts connections.
 *
 * @example
 * const server = await startPostgres()
 * const db = await createDatabase(server)
 * await db.sql`create table t (id text primary key)`
 * await db.drop(); await server.stop()
 */
export async function startPostgres(): Promise<PostgresServer> {
  const { bin, version } = findPostgresBin()
  const asRoot = process.getuid?.() === 0
  const owner = asRoot ? postgresUser() : undefined
  const dir = await mkdtemp(path.join(tmpdir(), 'eh-pg-'))
  const data = path.join(dir, 'data')
  const log = path.join(dir, 'server.log')
  if (owner) await chown(dir, owner.uid, owner.gid)
  await chmod(dir, 0o700)

  const exec = async (file: string, args: string[]) => {
    const [cmd, argv] = owner ? ['runuser', ['-u', 'postgres', '--', path.join(bin, file), ...args]] : [path.join(bin, file), args]
    try {
      return await run(cmd, argv, { cwd: dir, timeout: 60_000 })
    } catch (error) {
      const e = error as { stderr?: string; stdout?: string; message: string }
      const serverLog = await readFile(log, 'utf8').catch(() => '')
      throw new Error(`${file} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}${serverLog ? `\nserver log:\n${serverLog.slice(-2000)}` : ''}`)
    }
  }

  let stopped = false
  let port = 0
  const stopSync = () => {
    if (stopped) return
    stopped = true
    try {
      const args = ['stop', '-D', data, '-m', 'immediate', '-w']
      if (owner) execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, 'pg_ctl'), ...args], { stdio: 'ignore' })
      else execFileSync(path.join(bin, 'pg_ctl'), args, { stdio: 'ignore' })
    } catch {
      // not running
    }
  }
  // A crashed or interrupted test process must not leave a server behind.
  const onSignal = (signal: NodeJS.Signals) => {
    stopSync()
    void rm(dir, { recursive: true, force: true }).finally(() => {
      process.removeListener(signal, onSignal)
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    })
  }
  const forget = () => {
    process.removeListener('exit', stopSync)
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
  }
  process.once('exit', stopSync)
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    await exec('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'])
    await writeFile(path.join(data, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n')
    let lastError: unknown
    for (let attempt = 0; attempt < 3; attempt++) {
      port = await freePort()
      const conf = [
        `port = ${port}`,
        `listen_addresses = '127.0.0.1'`,
        `unix_socket_directories = '${dir}'`,
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        'max_connections = 100',
        `log_min_messages = warning`,
        '',
      ].join('\n')
      await appendFile(path.join(data, 'postgresql.conf'), conf)
      try {
        await exec('pg_ctl', ['start', '-D', data, '-l', log, '-w', '-t', '30'])
        lastError = undefined
        break
      } catch (error) {
        // most likely the port was taken meanwhile: try another
        lastError = error
      }
    }
    if (lastError) throw lastError
  } catch (error) {
    forget()
    stopSync()
    await rm(dir, { recursive: true, force: true })
    throw error
  }

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const sql = postgres(url, { onnotice: () => {}, max: 2 })
  await waitForConnections(sql)

  return {
    url,
    port,
    version,
    sql,
    async restart({ mode = 'fast', downMs = 0, onDown } = {}) {
      await exec('pg_ctl', ['stop', '-D', data, '-m', mode, '-w', '-t', '30'])
      await onDown?.()
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs))
      await exec('pg_ctl', ['start', '-D', data, '-l', log, '-w', '-t', '30'])
      await waitForConnections(sql)
    },
    async stop() {
      await sql.end({ timeout: 1 }).catch(() => {})
      forget()
      if (!stopped) {
        stopped = true
        await exec('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w']).catch(() => {})
      }
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function waitForConnections(sql: Sql, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      await sql`select 1`
      return
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/** A database of its own for one test file. */
export interface TestDatabase {
  readonly name: string
  /** `postgres://postgres@127.0.0.1:<port>/<name>` */
  readonly url: string
  /** A client on it (onnotice silenced); ended by `drop()`. */
  readonly sql: Sql
  /** Ends the client and drops the database. */
  drop(): Promise<void>
}

/**
 * Creates a fresh, empty database on the server, so test files never see each other's tables.
 *
 * @example
 * const db = await createDatabase(server, 'to_postgres')
 */
export async function createDatabase(server: PostgresServer, prefix = 'test'): Promise<TestDatabase> {
  const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  await server.sql.unsafe(`create database "${name}"`)
  const url = server.url.replace(/\/postgres$/, `/${name}`)
  const sql = postgres(url, { onnotice: () => {}, max: 4 })
  return {
    name,
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 1 }).catch(() => {})
      await server.sql.unsafe(`drop database if exists "${name}" with (force)`).catch(() => {})
    },
  }
}
