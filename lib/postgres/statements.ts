import type { ColumnKind } from './encode.js'

/** A column of the table the sink writes, as inspection found it. */
export interface Column {
  readonly name: string
  /** The type without its modifier (`character varying`, not `character varying(20)`), so casts never truncate. */
  readonly type: string
  readonly kind: ColumnKind
}

/** The table as inspection found it: its quoted and display names, and the mapped columns in mapping order. */
export interface Table {
  readonly qualified: string
  readonly display: string
  readonly columns: readonly Column[]
}

/** A table ready to be written: what inspection found, and the statements built for it. */
export interface Target extends Table {
  readonly statements: Statements
}

/** The statements of one table, from {@link buildStatements}. */
export interface Statements {
  /** Upserts only: parameters are one text[] per column; returns the ordinals written. */
  readonly upsert: string
  /** With a delete pattern: deletes and upserts in one statement; parameters are the delete columns, then every column. */
  readonly mixed?: string
  /** Plain insert (append mode's fallback from COPY). */
  readonly insert: string
  readonly copy: string
  /** Column indexes a delete sends: the key columns, then the version column. */
  readonly deleteColumns: readonly number[]
  /**
   * Dry runs: reads the stored rows of a batch's keys (parameters: one text[] per key column),
   * returning per key its input ordinal `o`, whether a row has it (`found`) and the row's version
   * `v`; `planReadRows` also returns every mapped column as `m<i>`, for previews. Read only.
   */
  readonly planRead: string
  readonly planReadRows: string
}

/** A double-quoted identifier: embedded quotes doubled, so any name is safe. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/** A qualified name with each part quoted: `"app"."Users"`. */
export function quoteName(parts: readonly string[]): string {
  return parts.map(quoteIdent).join('.')
}

/**
 * The statements for a table, built once. Every value travels as a `text[]` parameter (one per
 * column) and is cast to the column's type in SQL: no statement ever holds a value, and the
 * statement text is the same for every batch, so it is prepared once per connection.
 */
export function buildStatements(
  qualified: string,
  columns: readonly Column[],
  keys: readonly number[],
  version: number,
  withDeletes: boolean,
): Statements {
  const q = (i: number) => quoteIdent(columns[i]!.name)
  const input = (indexes: readonly number[], offset = 0) => {
    const params = indexes.map((_, j) => `$${offset + j + 1}::text[]`).join(', ')
    const aliases = indexes.map((c) => `"c${c}"`).join(', ')
    const casts = indexes.map((c) => `"__u"."c${c}"::${columns[c]!.type} as "c${c}"`).join(', ')
    return `select "__u"."o"::int4 as "o", ${casts} from unnest(${params}) with ordinality as "__u"(${aliases}, "o")`
  }
  const all = columns.map((_, i) => i)
  const names = all.map(q).join(', ')
  const valueList = all.map((c) => `"c${c}"`).join(', ')
  const nonKeys = all.filter((c) => !keys.includes(c))
  const set = (nonKeys.length > 0 ? nonKeys : keys).map((c) => `${q(c)} = excluded.${q(c)}`).join(', ')
  const guard = version >= 0 ? ` where "__t".${q(version)} is null or "__t".${q(version)} < excluded.${q(version)}` : ''
  const insertUpsert =
    `insert into ${qualified} as "__t" (${names}) select ${valueList} from "__in" ` +
    `on conflict (${keys.map(q).join(', ')}) do update set ${set}${guard} ` +
    `returning ${keys.map((c, j) => `"__t".${q(c)} as "k${j}"`).join(', ')}`
  const joinWritten = keys.map((c, j) => `"__in"."c${c}" = "__w"."k${j}"`).join(' and ')
  const upsert = `with "__in" as (${input(all)}), "__w" as (${insertUpsert}) select "__in"."o" as "o" from "__in" join "__w" on ${joinWritten}`
  const insert =
    `insert into ${qualified} (${names}) select ${all.map((c) => `"__u"."c${c}"::${columns[c]!.type}`).join(', ')} ` +
    `from unnest(${all.map((_, j) => `$${j + 1}::text[]`).join(', ')}) as "__u"(${valueList})`
  const deleteColumns = version >= 0 ? [...keys, version] : [...keys]
  const copy = `copy ${qualified} (${names}) from stdin`
  // Keys are cast to the column types and compared in SQL, as ON CONFLICT compares them (uuid
  // case, citext, numeric 1.0 = 1); each key comes back with its ordinal and whether a row has it.
  // A left join casts every key whatever the table holds, so a key the column cannot take fails
  // the read as it fails the write; sorting casts them all before the first row is sent.
  const read = (extra: string) =>
    `with "__k" as (${input(keys)}) select "__k"."o" as "o", ("__t".${q(keys[0]!)} is not null) as "found"` +
    `${version >= 0 ? `, "__t".${q(version)} as "v"` : ''}${extra} ` +
    `from "__k" left join ${qualified} as "__t" on ${keys.map((c) => `"__t".${q(c)} = "__k"."c${c}"`).join(' and ')} order by 1`
  const planRead = read('')
  const planReadRows = read(all.map((c) => `, "__t".${q(c)} as "m${c}"`).join(''))
  if (!withDeletes) return { upsert, insert, copy, deleteColumns, planRead, planReadRows }

  // Deletes and upserts of one batch in one statement (so one transaction): the keys are distinct,
  // so no row is touched twice. `exists` reads the snapshot from before the statement.
  const match = (alias: string) => keys.map((c) => `${alias}.${q(c)} = "__del"."c${c}"`).join(' and ')
  const deleteGuard = version >= 0 ? ` and ("__t".${q(version)} is null or "__t".${q(version)} < "__del"."c${version}")` : ''
  const mixed =
    `with "__del" as (${input(deleteColumns)}), ` +
    `"__d" as (delete from ${qualified} as "__t" using "__del" where ${match('"__t"')}${deleteGuard} returning "__del"."o"), ` +
    `"__in" as (${input(all, deleteColumns.length)}), ` +
    `"__w" as (${insertUpsert}) ` +
    `select 'd' as "op", "__del"."o" as "o", ("__d"."o" is not null) as "deleted", ` +
    `exists (select 1 from ${qualified} as "__x" where ${match('"__x"')}) as "present" ` +
    `from "__del" left join "__d" on "__d"."o" = "__del"."o" ` +
    `union all select 'u', "__in"."o", false, false from "__in" join "__w" on ${joinWritten}`
  return { upsert, mixed, insert, copy, deleteColumns, planRead, planReadRows }
}
