import { HydratorError } from '../errors.js'
import type { CompiledMapping } from '../mapping.js'
import { splitQualifiedName } from '../util/sql-names.js'
import type { PostgresClient } from './client.js'
import { nearNames, orList } from '../util/near.js'
import { quoteIdent, quoteName, type Column, type Table } from './statements.js'

const RELKINDS: Record<string, string> = {
  i: 'an index',
  I: 'a partitioned index',
  S: 'a sequence',
  m: 'a materialized view',
  c: 'a composite type',
  t: 'a TOAST table',
}

/** A table name as given, split into its schema and table parts. */
export interface TableName {
  /** The parts as written, quotes removed. */
  readonly exact: readonly string[]
  /** The parts as PostgreSQL reads them unquoted: lower case, quoted parts kept. */
  readonly folded: readonly string[]
}

/** Splits `schema.table`, honouring double-quoted parts (`"My Schema"."a.b"`). */
export function parseTableName(text: string): TableName {
  const parts = splitQualifiedName(text, { open: '"', close: '"' })
  return { exact: parts.map((p) => p.name), folded: parts.map((p) => (p.quoted ? p.name : p.name.toLowerCase())) }
}

/**
 * Checks the table and columns and learns the column types. `upsert`: rows are also updated, so
 * UPDATE and SELECT are needed, and a unique index on exactly the key columns.
 */
export async function inspectTable(
  client: PostgresClient,
  name: TableName,
  given: string,
  m: CompiledMapping,
  upsert: boolean,
): Promise<Table> {
  const candidates = [quoteName(name.exact), quoteName(name.folded)].filter((c, i, all) => all.indexOf(c) === i)
  let relation: Record<string, unknown> | undefined
  for (const candidate of candidates) {
    const rows = await client.unsafe(
      `select c.oid::int8::text as oid, n.nspname as schema, c.relname as name, c.relkind::text as kind,
         pg_catalog.has_table_privilege(c.oid, 'INSERT') as can_insert,
         pg_catalog.has_table_privilege(c.oid, 'UPDATE') as can_update,
         pg_catalog.has_table_privilege(c.oid, 'DELETE') as can_delete,
         pg_catalog.has_table_privilege(c.oid, 'SELECT') as can_select,
         current_user::text as "user", current_database()::text as database
       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where c.oid = pg_catalog.to_regclass($1)`,
      [candidate],
    )
    if (rows[0]) {
      relation = rows[0]
      break
    }
  }
  if (!relation) {
    const near = await nearTables(client, name).catch(() => [])
    const hint = near.length ? ` (did you mean ${orList(near.map((n) => `\`${n}\``))}?)` : ''
    throw new HydratorError(
      'ERR_TARGET_NOT_FOUND',
      `table \`${given}\` does not exist${name.exact.length === 1 ? ' in the search path' : ''}${hint}; create it first, or check --table`,
    )
  }
  const display = `${relation.schema}.${relation.name}`
  const kind = String(relation.kind)
  if (!['r', 'p', 'v', 'f'].includes(kind)) {
    throw new HydratorError('ERR_TARGET_SCHEMA', `\`${display}\` is ${RELKINDS[kind] ?? `a relation of kind ${kind}`}, not a table that can be written`)
  }
  const user = String(relation.user)
  const needs: [string, unknown][] = [['INSERT', relation.can_insert]]
  if (upsert) needs.push(['UPDATE', relation.can_update], ['SELECT', relation.can_select])
  if (m.mapping.deleteWhen !== undefined) needs.push(['DELETE', relation.can_delete])
  const missing = needs.filter(([, ok]) => ok !== true).map(([p]) => p)
  if (missing.length > 0) {
    throw new HydratorError('ERR_AUTH', `role \`${user}\` lacks ${missing.join(', ')} on \`${display}\`: grant it, or connect as another role`)
  }

  const attributes = await client.unsafe(
    `select a.attnum::int as num, a.attname::text as name, pg_catalog.format_type(a.atttypid, null) as type,
       bt.typname::text as base, bt.typcategory::text as category, a.attnotnull as notnull, a.atthasdef as hasdef,
       a.attidentity::text as identity, a.attgenerated::text as generated
     from pg_catalog.pg_attribute a
     join pg_catalog.pg_type t on t.oid = a.atttypid
     join pg_catalog.pg_type bt on bt.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end
     where a.attrelid = $1::oid and a.attnum > 0 and not a.attisdropped
     order by a.attnum`,
    [relation.oid],
  )
  const byName = new Map(attributes.map((a) => [String(a.name), a]))
  const absent = m.columnNames.filter((c) => !byName.has(c))
  if (absent.length > 0) {
    const names = attributes.map((a) => String(a.name))
    const hints = absent.map((c) => {
      const near = names.find((n) => n.toLowerCase() === c.toLowerCase())
      return near ? `\`${c}\` (did you mean \`${near}\`?)` : `\`${c}\``
    })
    throw new HydratorError(
      'ERR_TARGET_SCHEMA',
      `table \`${display}\` has no column ${hints.join(', ')}; its columns are: ${names.slice(0, 30).join(', ')}${names.length > 30 ? ', ...' : ''}`,
    )
  }
  for (const c of m.columnNames) {
    const a = byName.get(c)!
    if (a.generated) throw new HydratorError('ERR_TARGET_SCHEMA', `column \`${c}\` of \`${display}\` is generated and cannot be written: remove it from the mapping`)
    if (a.identity === 'a') {
      throw new HydratorError('ERR_TARGET_SCHEMA', `column \`${c}\` of \`${display}\` is GENERATED ALWAYS AS IDENTITY and cannot be written: remove it from the mapping`)
    }
  }
  const required = attributes
    .filter((a) => a.notnull === true && a.hasdef !== true && !a.identity && !a.generated && !m.columnNames.includes(String(a.name)))
    .map((a) => String(a.name))
  if (required.length > 0) {
    throw new HydratorError(
      'ERR_TARGET_SCHEMA',
      `column${required.length > 1 ? 's' : ''} ${required.map((c) => `\`${c}\``).join(', ')} of \`${display}\` ${required.length > 1 ? 'are' : 'is'} NOT NULL without a default and not mapped: add \`--column ${required[0]}=<json path>\``,
    )
  }
  const columns: Column[] = m.columnNames.map((c) => {
    const a = byName.get(c)!
    const base = String(a.base)
    return {
      name: c,
      type: String(a.type),
      kind: base === 'json' || base === 'jsonb' ? 'json' : a.category === 'A' ? 'array' : 'other',
    }
  })

  if (upsert) {
    const indexes = await client.unsafe(
      `select i.indkey::text as keys, i.indnkeyatts::int as n, i.indisprimary as "primary", ic.relname::text as name
       from pg_catalog.pg_index i join pg_catalog.pg_class ic on ic.oid = i.indexrelid
       where i.indrelid = $1::oid and i.indisunique and i.indimmediate and i.indisvalid
         and i.indpred is null and i.indexprs is null`,
      [relation.oid],
    )
    const wanted = new Set(m.mapping.key.map((k) => Number(byName.get(k)!.num)))
    const names = new Map(attributes.map((a) => [Number(a.num), String(a.name)]))
    const found = indexes.map((ix) => String(ix.keys).split(' ').slice(0, Number(ix.n)).map(Number))
    const match = found.some((cols) => cols.length === wanted.size && cols.every((c) => wanted.has(c)))
    if (!match) {
      const have = found.length
        ? `; it has unique indexes on ${found.map((cols) => `(${cols.map((c) => names.get(c)).join(', ')})`).join(', ')}`
        : '; it has no primary key or unique index'
      throw new HydratorError(
        'ERR_TARGET_SCHEMA',
        `upsert into \`${display}\` needs a primary key or unique index on exactly (${m.mapping.key.join(', ')})${have}: ` +
          `add one (\`create unique index on ${display} (${m.mapping.key.map(quoteIdent).join(', ')})\`), change --key, or use mode append`,
      )
    }
  }
  const qualified = `${quoteIdent(String(relation.schema))}.${quoteIdent(String(relation.name))}`
  return { qualified, display, columns }
}

/**
 * Tables and views with a name like the one not found, at most 3, as the user would write them: bare
 * when in the search path (quoted if case or characters need it), else schema-qualified. An unqualified
 * name is compared with the table names of every schema, a qualified one with `schema.table`.
 */
async function nearTables(client: PostgresClient, name: TableName): Promise<string[]> {
  const tables = await client.unsafe(
    `select n.nspname::text as schema, c.relname::text as name, pg_catalog.pg_table_is_visible(c.oid) as visible
     from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p', 'v', 'f') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
     order by 3 desc, 1, 2 limit 10000`,
  )
  const bare = (part: string) => (/^[a-z_][a-z0-9_$]*$/.test(part) ? part : quoteIdent(part))
  const shown = new Map<string, string>()
  for (const t of tables) {
    const schema = String(t.schema)
    const table = String(t.name)
    const compared = name.exact.length === 1 ? table : `${schema}.${table}`
    // The first of a name wins: visible tables are listed first.
    if (!shown.has(compared)) shown.set(compared, t.visible === true && name.exact.length === 1 ? bare(table) : `${bare(schema)}.${bare(table)}`)
  }
  const given = name.exact.length === 1 ? name.exact[0]! : name.exact.join('.')
  return nearNames(given, [...shown.keys()]).map((n) => shown.get(n)!)
}
