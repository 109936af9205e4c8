// `--rebuild` for PostgreSQL: the copy is created with `LIKE ... INCLUDING ALL` (columns, defaults,
// NOT NULL and CHECK constraints, identity, generated columns, indexes with the primary key and
// unique constraints, comments, storage), plus the table's foreign keys and grants; the swap renames
// in one transaction, indexes and sequences included, so the live table keeps its index names and a
// second rebuild finds nothing in its way.
import { HydratorError, errorMessage } from '../errors.js'
import { checkNameLength, nothingToSwap, oldName, rebuildName, type RebuildOptions } from '../rebuild.js'
import type { RebuildSwap, SinkRebuild } from '../types.js'
import { isNetworkError, withRetry, type RetryPolicy } from '../retry.js'
import type { PostgresClient, PostgresQueryable } from './client.js'
import { sqlState } from './errors.js'
import type { TableName } from './inspect.js'
import { quoteIdent, quoteName } from './statements.js'

/** PostgreSQL's longest identifier, in bytes. */
const NAMEDATALEN = 63

/** A table found in the catalog. */
interface Relation {
  readonly oid: string
  readonly schema: string
  readonly name: string
  readonly kind: string
  readonly rowSecurity: boolean
}

const qualify = (schema: string, name: string) => `${quoteIdent(schema)}.${quoteIdent(name)}`

/** The relation a name means, as inspectTable finds it (the exact spelling, then folded to lower case). */
async function findRelation(client: PostgresQueryable, name: TableName): Promise<Relation | undefined> {
  const candidates = [quoteName(name.exact), quoteName(name.folded)].filter((c, i, all) => all.indexOf(c) === i)
  for (const candidate of candidates) {
    const rows = await client.unsafe(
      `select c.oid::int8::text as oid, n.nspname::text as schema, c.relname::text as name, c.relkind::text as kind, c.relrowsecurity as rls
       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where c.oid = pg_catalog.to_regclass($1)`,
      [candidate],
    )
    const r = rows[0]
    if (r) return { oid: String(r.oid), schema: String(r.schema), name: String(r.name), kind: String(r.kind), rowSecurity: r.rls === true }
  }
  return undefined
}

async function copyOf(client: PostgresQueryable, live: Relation, id: string): Promise<Relation | undefined> {
  return findRelation(client, { exact: [live.schema, rebuildName(live.name, id)], folded: [live.schema, rebuildName(live.name, id)] })
}

/**
 * Refuses, before anything is written, a table whose swap would break something the copy does not
 * carry: objects that depend on the table itself (views, foreign keys pointing at it, publications
 * follow the old table through a rename), and triggers and row-level security policies, which
 * `LIKE` does not copy.
 */
async function checkSwappable(client: PostgresQueryable, live: Relation): Promise<void> {
  const display = `${live.schema}.${live.name}`
  if (live.kind !== 'r') {
    const what = live.kind === 'p' ? 'a partitioned table' : live.kind === 'v' ? 'a view' : live.kind === 'f' ? 'a foreign table' : `a relation of kind ${live.kind}`
    throw new HydratorError('ERR_TARGET_SCHEMA', `--rebuild: \`${display}\` is ${what}; only a plain table can be rebuilt beside and swapped`)
  }
  const dependents = await client.unsafe(
    `select 'view ' || v.oid::regclass::text as what from pg_catalog.pg_depend d
       join pg_catalog.pg_rewrite r on r.oid = d.objid join pg_catalog.pg_class v on v.oid = r.ev_class
       where d.classid = 'pg_catalog.pg_rewrite'::regclass and d.refobjid = $1::oid and v.oid <> $1::oid
     union select 'foreign key ' || quote_ident(conname) || ' of ' || conrelid::regclass::text from pg_catalog.pg_constraint
       where contype = 'f' and confrelid = $1::oid
     union select 'trigger ' || quote_ident(tgname) from pg_catalog.pg_trigger where tgrelid = $1::oid and not tgisinternal
     union select 'publication ' || quote_ident(p.pubname) from pg_catalog.pg_publication_rel pr
       join pg_catalog.pg_publication p on p.oid = pr.prpubid where pr.prrelid = $1::oid
     order by 1 limit 10`,
    [live.oid],
  )
  const found = dependents.map((d) => String(d.what))
  if (live.rowSecurity) found.push('row-level security')
  if (found.length > 0) {
    throw new HydratorError(
      'ERR_TARGET_SCHEMA',
      `--rebuild: \`${display}\` has ${found.join(', ')}: a copy swapped in by renaming would not carry ${found.length > 1 ? 'them' : 'it'} (views, foreign keys and publications keep following the old table; triggers and policies are not copied). Rebuild without --rebuild, or move ${found.length > 1 ? 'them' : 'it'} first`,
    )
  }
}

/** Statements that give the copy the table's foreign keys and grants (LIKE copies neither). */
async function extrasOf(client: PostgresQueryable, live: Relation, copy: string): Promise<string[]> {
  const [keys, grants] = await Promise.all([
    client.unsafe(
      `select quote_ident(conname) as name, pg_catalog.pg_get_constraintdef(oid) as def from pg_catalog.pg_constraint
       where conrelid = $1::oid and contype = 'f' order by conname`,
      [live.oid],
    ),
    client.unsafe(
      `select a.privilege_type::text as privilege, case when a.grantee = 0 then 'public' else quote_ident(r.rolname) end as grantee, a.is_grantable as grantable
       from pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a left join pg_catalog.pg_roles r on r.oid = a.grantee
       where c.oid = $1::oid and a.grantee <> c.relowner order by 2, 1`,
      [live.oid],
    ),
  ])
  return [
    ...keys.map((k) => `alter table ${copy} add constraint ${k.name} ${k.def}`),
    ...grants.map((g) => `grant ${g.privilege} on ${copy} to ${g.grantee}${g.grantable ? ' with grant option' : ''}`),
  ]
}

/** What the sink writes into once {@link openPostgresRebuild} has prepared the copy. */
export interface PostgresCopy {
  /** The copy's quoted name, for the statements. */
  readonly qualified: string
  /** `schema.table` of the copy, for messages. */
  readonly display: string
  /** False in a dry run whose copy is not there yet: the plan then reads nothing (a new copy is empty). */
  readonly exists: boolean
}

/**
 * Checks that the live table can be swapped, then (not in a dry run) creates its copy, or finds it
 * for a resumed run. Creation is one transaction, so a crash never leaves a copy without its indexes.
 */
export async function openPostgresRebuild(
  sql: PostgresClient,
  name: TableName,
  rebuild: RebuildOptions,
  dryRun: boolean,
  state: { live: string; table: string },
): Promise<PostgresCopy> {
  const live = await findRelation(sql, name)
  if (!live) throw new HydratorError('ERR_TARGET_NOT_FOUND', `table \`${name.exact.join('.')}\` does not exist`)
  const copyName = rebuildName(live.name, rebuild.id)
  checkNameLength(copyName, NAMEDATALEN, 'rebuild table')
  checkNameLength(oldName(live.name), NAMEDATALEN, 'kept old table')
  state.live = `${live.schema}.${live.name}`
  state.table = `${live.schema}.${copyName}`
  await checkSwappable(sql, live)
  const copy = qualify(live.schema, copyName)
  const existing = await copyOf(sql, live, rebuild.id)
  if (rebuild.resume) {
    if (!existing) {
      throw new HydratorError(
        'ERR_TARGET_NOT_FOUND',
        `--rebuild: the checkpoint's events were written into \`${state.table}\`, which is gone: delete the checkpoint to rebuild from the start`,
      )
    }
    return { qualified: copy, display: state.table, exists: true }
  }
  if (dryRun) return { qualified: copy, display: state.table, exists: false }
  const statements = [
    // Left by a run of this id that stopped before its first checkpoint: it starts over.
    ...(existing ? [`drop table ${copy}`] : []),
    `create table ${copy} (like ${qualify(live.schema, live.name)} including all)`,
    ...(await extrasOf(sql, live, copy)),
  ]
  try {
    // One simple query: PostgreSQL runs its statements as one transaction, all or nothing.
    await sql.unsafe(statements.join(';\n'))
  } catch (error) {
    const code = sqlState(error)
    // Lost connections and deadlocks are retried by the caller; anything else PostgreSQL refused stops the run.
    if (code && !['40P01', '40001', '55P03', '57P01'].includes(code)) {
      throw new HydratorError(code === '42501' ? 'ERR_AUTH' : 'ERR_TARGET_SCHEMA', `--rebuild: cannot create \`${state.table}\` like \`${state.live}\`: ${errorMessage(error)} (${code})`, { cause: error })
    }
    throw error
  }
  return { qualified: copy, display: state.table, exists: true }
}

/** An index with its definition past its name and table (` USING btree (id)`), to pair copies with originals. */
async function indexesOf(client: PostgresQueryable, oid: string): Promise<{ name: string; shape: string }[]> {
  const rows = await client.unsafe(
    `select ic.relname::text as name, pg_catalog.pg_get_indexdef(i.indexrelid) as def
     from pg_catalog.pg_index i join pg_catalog.pg_class ic on ic.oid = i.indexrelid
     where i.indrelid = $1::oid order by ic.relname`,
    [oid],
  )
  return rows.map((r) => ({ name: String(r.name), shape: String(r.def).replace(/^.*? USING /s, '') }))
}

/** Sequences a table's columns own: `a` serial (OWNED BY), `i` identity. */
async function sequencesOf(client: PostgresQueryable, oid: string): Promise<{ seq: string; name: string; column: string; kind: string }[]> {
  const rows = await client.unsafe(
    `select s.oid::regclass::text as seq, s.relname::text as name, a.attname::text as "column", d.deptype::text as kind
     from pg_catalog.pg_depend d
     join pg_catalog.pg_class s on s.oid = d.objid and s.relkind = 'S'
     join pg_catalog.pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
     where d.classid = 'pg_catalog.pg_class'::regclass and d.refclassid = 'pg_catalog.pg_class'::regclass
       and d.refobjid = $1::oid and d.deptype in ('a', 'i')
     order by 3`,
    [oid],
  )
  return rows.map((r) => ({ seq: String(r.seq), name: String(r.name), column: String(r.column), kind: String(r.kind) }))
}

/** `name` with `suffix`, cut to fit PostgreSQL's 63 bytes. */
function suffixed(name: string, suffix: string): string {
  let base = name
  while (Buffer.byteLength(base + suffix) > NAMEDATALEN) base = base.slice(0, -1)
  return base + suffix
}

/**
 * Swaps the copy in, in one transaction on one connection: both tables are locked (ACCESS
 * EXCLUSIVE, waiting at most `lockTimeoutMs` per attempt, so a long query on the table delays the
 * swap instead of queueing every reader behind it), the live table is dropped or renamed to its
 * dated name (its indexes and sequences too), the copy takes its name, and the copy's indexes and
 * identity sequences take the names the live ones had. Serial sequences the live table owned are
 * handed to the copy, whose defaults use them; identity sequences start past the old one and the
 * copy's highest value. A reader sees the old table or the new one, never neither.
 */
export async function swapPostgres(
  sql: PostgresClient,
  name: TableName,
  rebuild: RebuildOptions,
  retry: RetryPolicy,
  lockTimeoutMs = 5000,
): Promise<RebuildSwap> {
  const run = async (): Promise<RebuildSwap> => {
    const { statements, old } = await swapStatements(sql, name, rebuild, lockTimeoutMs)
    // One simple query: PostgreSQL runs its statements as one transaction, so the swap is all or
    // nothing (a statement that fails rolls back those before it), and no reserved connection is needed.
    await sql.unsafe(statements.join(';\n'))
    return { ...(old ? { old } : {}), steps: statements }
  }
  return withRetry(run, retry, {
    // A lock that did not come in time, a deadlock, a lost connection: nothing was changed.
    isRetryable: (error) => ['55P03', '40P01', '40001'].includes(sqlState(error) ?? '') || isNetworkError(error),
    reasonOf: (error) => (sqlState(error) === '55P03' ? 'lockTimeout' : (sqlState(error) ?? 'connection')),
  })
}

/** The statements of a swap, read from the catalog just before: if it changes in between, a statement fails and nothing is swapped. */
async function swapStatements(connection: PostgresQueryable, name: TableName, rebuild: RebuildOptions, lockTimeoutMs: number): Promise<{ statements: string[]; old?: string }> {
  const steps: string[] = []
  const exec = (statement: string) => steps.push(statement)
  const live = await findRelation(connection, name)
  if (!live) throw new HydratorError('ERR_TARGET_NOT_FOUND', `--rebuild: the live table \`${name.exact.join('.')}\` is gone; nothing was swapped`)
  const copy = await copyOf(connection, live, rebuild.id)
  const display = `${live.schema}.${rebuildName(live.name, rebuild.id)}`
  if (!copy) throw nothingToSwap(`--rebuild: the rebuild table \`${display}\` does not exist; nothing was swapped`)
  const liveName = qualify(live.schema, live.name)
  const copyName = qualify(copy.schema, copy.name)
  exec(`select pg_catalog.set_config('lock_timeout', '${Math.max(1, Math.floor(lockTimeoutMs))}', true)`)
  exec(`lock table ${liveName}, ${copyName} in access exclusive mode`)

  const [liveIndexes, copyIndexes, liveSeqs, copySeqs] = await Promise.all([indexesOf(connection, live.oid), indexesOf(connection, copy.oid), sequencesOf(connection, live.oid), sequencesOf(connection, copy.oid)])
  // Each index of the copy takes the name of the live index of the same shape (LIKE made one per index).
  const pairs: { from: string; to: string }[] = []
  const left = [...liveIndexes]
  for (const ix of copyIndexes) {
    const j = left.findIndex((l) => l.shape === ix.shape)
    if (j !== -1) pairs.push({ from: ix.name, to: left.splice(j, 1)[0]!.name })
  }
  // Identity sequences: the copy's takes the live one's name and goes on past both.
  const identities: { from: string; to: string; original: string; column: string }[] = []
  for (const s of copySeqs.filter((c) => c.kind === 'i')) {
    const original = liveSeqs.find((l) => l.kind === 'i' && l.column === s.column)
    if (original) identities.push({ from: s.name, to: original.name, original: original.seq, column: s.column })
  }
  for (const s of identities) {
    exec(
      `select pg_catalog.setval('${qualify(copy.schema, s.from).replace(/'/g, "''")}', v) from (select greatest((select coalesce(max(${quoteIdent(s.column)})::int8, 0) from ${copyName}), ` +
        `(select case when is_called then last_value else last_value - 1 end from ${s.original})) as v) t where v >= 1`,
    )
  }
  // Serial sequences the live table owns: the copy's defaults call them, so the copy owns them next.
  const serials = liveSeqs.filter((s) => s.kind === 'a')
  for (const s of serials) exec(`alter sequence ${s.seq} owned by none`)

  let old: string | undefined
  if (rebuild.keepOld) {
    old = oldName(live.name)
    const suffix = old.slice(live.name.length)
    exec(`alter table ${liveName} rename to ${quoteIdent(old)}`)
    for (const ix of liveIndexes) exec(`alter index ${qualify(live.schema, ix.name)} rename to ${quoteIdent(suffixed(ix.name, suffix))}`)
    for (const s of liveSeqs.filter((l) => l.kind === 'i')) exec(`alter sequence ${s.seq} rename to ${quoteIdent(suffixed(s.name, suffix))}`)
  } else {
    exec(`drop table ${liveName}`)
  }
  exec(`alter table ${copyName} rename to ${quoteIdent(live.name)}`)
  for (const p of pairs) if (p.from !== p.to) exec(`alter index ${qualify(live.schema, p.from)} rename to ${quoteIdent(p.to)}`)
  for (const s of identities) exec(`alter sequence ${qualify(live.schema, s.from)} rename to ${quoteIdent(s.to)}`)
  for (const s of serials) exec(`alter sequence ${s.seq} owned by ${liveName}.${quoteIdent(s.column)}`)
  return { statements: steps, ...(old ? { old: `${live.schema}.${old}` } : {}) }
}

/**
 * The sink's {@link SinkRebuild}: its names (the given ones until the sink opens and resolves
 * them) and its swap.
 */
export function postgresRebuild(sql: PostgresClient, name: TableName, given: string, rebuild: RebuildOptions, retry: RetryPolicy): SinkRebuild & { live: string; table: string } {
  return {
    live: given,
    table: rebuildName(given, rebuild.id),
    ...(rebuild.keepOld ? { keepOld: true } : {}),
    swap: () =>
      swapPostgres(sql, name, rebuild, retry).catch((error: unknown) => {
        if (error instanceof HydratorError) throw error
        const code = sqlState(error)
        // PostgreSQL names what is in the way in the detail (`view v depends on table users`).
        const detail = (error as { detail?: string }).detail
        if (code) throw new HydratorError('ERR_TARGET_SCHEMA', `${errorMessage(error)}${detail ? ` (${detail})` : ''} (${code})`, { cause: error })
        throw new HydratorError('ERR_CONNECTION', `cannot reach PostgreSQL: ${errorMessage(error)}`, { cause: error })
      }),
  }
}
