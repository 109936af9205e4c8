// Which objects an S3 source reads, in order: a ListObjectsV2 listing (pages, UTF-8 key order), an
// S3 Inventory manifest (CSV), or keys given by another iterable. Filters (`match`, LastModified)
// and share ranges apply here; reading the objects is source.ts's job.
import type { ListObjectsV2CommandOutput, S3Client } from '@aws-sdk/client-s3'
import { createGunzip } from 'node:zlib'
import { Readable } from 'node:stream'
import { HydratorError, errorMessage } from '../errors.js'
import { withRetry, type RetryPolicy } from '../retry.js'
import { isRetryableAwsError, loadAwsSdk } from '../util/aws.js'
import { s3Error } from './errors.js'

/** One object to read, as far as the listing (or manifest) knows it. */
export interface S3Object {
  readonly key: string
  readonly size?: number
  readonly lastModified?: Date
  readonly storageClass?: string
  readonly etag?: string
}

/** A share's keys: from `from` (included) up to `before` (excluded), in UTF-8 order; `null` is open-ended. */
export interface S3KeyRange {
  readonly from: string | null
  readonly before: string | null
}

/** What selects objects, whatever lists them. */
export interface S3Filter {
  readonly prefix: string
  readonly match?: RegExp
  readonly modifiedAfter?: Date
  readonly modifiedBefore?: Date
}

/** @internal How the key modules send and retry. */
export interface S3Calls {
  readonly client: Pick<S3Client, 'send'>
  readonly bucket: string
  readonly retry?: RetryPolicy
  readonly signal?: AbortSignal
  readonly onRetry: (reason: string) => void
}

/** The IAM hint of a refused source call. */
export const SOURCE_NEEDS = 'an S3 source needs s3:ListBucket on the bucket and s3:GetObject on its objects'

export const loadS3Sdk = () => loadAwsSdk('@aws-sdk/client-s3', () => import('@aws-sdk/client-s3'))

/** Compares two keys in the order S3 lists them: by their UTF-8 bytes (not JavaScript's UTF-16 order). */
export function compareKeys(a: string, b: string): number {
  // Equal in UTF-16 order up to the first difference; only a surrogate against a char >= U+E000 differs.
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    const xs = x >= 0xd800 && x <= 0xdfff
    const ys = y >= 0xd800 && y <= 0xdfff
    if (xs !== ys) return xs ? 1 : -1
    return x - y
  }
  return a.length - b.length
}

/** True when `key` is inside `range`. */
export function inRange(key: string, range: S3KeyRange | undefined): boolean {
  if (!range) return true
  return (range.from === null || compareKeys(key, range.from) >= 0) && (range.before === null || compareKeys(key, range.before) < 0)
}

/**
 * A glob on whole keys as a RegExp: `*` and `?` stay within one `/` segment, `**` crosses them,
 * `{a,b}` and `[a-z]` as in shells. Throws ERR_INVALID_OPTION for an unbalanced brace or bracket.
 *
 * @example
 * globToRegExp('events/**\/*.{ndjson,gz}').test('events/2026/01/a.gz') // true
 */
export function globToRegExp(glob: string): RegExp {
  let out = ''
  let braces = 0
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++
        if (glob[i + 1] === '/') {
          i++
          out += '(?:.*/)?'
        } else out += '.*'
      } else out += '[^/]*'
    } else if (c === '?') out += '[^/]'
    else if (c === '{') {
      braces++
      out += '(?:'
    } else if (c === '}' && braces > 0) {
      braces--
      out += ')'
    } else if (c === ',' && braces > 0) out += '|'
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2)
      if (end === -1) throw new HydratorError('ERR_INVALID_OPTION', `\`match\` glob \`${glob.slice(0, 200)}\` has a \`[\` without \`]\``)
      let set = glob.slice(i + 1, end)
      if (set.startsWith('!')) set = `^${set.slice(1)}`
      out += `[${set.replace(/\\/g, '\\\\')}]`
      i = end
    } else out += c.replace(/[.+^${}()|\\\]]/g, '\\$&')
  }
  if (braces !== 0) throw new HydratorError('ERR_INVALID_OPTION', `\`match\` glob \`${glob.slice(0, 200)}\` has an unclosed \`{\``)
  return new RegExp(`^${out}$`, 's')
}

/** True when the object passes the filter (prefix, glob, LastModified window: after <= t < before). */
export function passes(object: S3Object, filter: S3Filter): boolean {
  if (!object.key.startsWith(filter.prefix)) return false
  if (object.key.endsWith('/') && (object.size ?? 0) === 0) return false // a "folder" marker
  if (filter.match && !filter.match.test(object.key)) return false
  const t = object.lastModified?.getTime()
  if (filter.modifiedAfter && (t === undefined || t < filter.modifiedAfter.getTime())) return false
  if (filter.modifiedBefore && (t === undefined || t >= filter.modifiedBefore.getTime())) return false
  return true
}

/** A StartAfter that lists `key` itself and little before it: S3 has StartAfter, not StartAt. */
export function startingAt(key: string): string {
  if (key === '') return ''
  const last = key.codePointAt(key.length - 1)!
  const head = key.slice(0, key.length - (last > 0xffff ? 2 : 1))
  if (last <= 1) return head
  return `${head}${String.fromCodePoint(last - 1)}\u{10FFFF}\u{10FFFF}`
}

/**
 * The objects under `filter.prefix` in UTF-8 key order, page by page (ListObjectsV2, `pageSize`
 * keys a page), after `startAfter` and inside `range`; passing errors of each page retried.
 * A refused or missing bucket throws the documented HydratorError.
 */
export async function* listObjects(
  calls: S3Calls,
  filter: S3Filter,
  options: { readonly pageSize?: number; readonly startAfter?: string; readonly range?: S3KeyRange; readonly onPage?: () => void },
): AsyncGenerator<S3Object, void, undefined> {
  const { ListObjectsV2Command } = await loadS3Sdk()
  const range = options.range
  let startAfter = options.startAfter
  if (range?.from != null) {
    const from = startingAt(range.from)
    if (startAfter === undefined || compareKeys(from, startAfter) > 0) startAfter = from
  }
  let token: string | undefined
  for (;;) {
    let page: ListObjectsV2CommandOutput
    try {
      page = await withRetry(
        () =>
          calls.client.send(
            new ListObjectsV2Command({
              Bucket: calls.bucket,
              ...(filter.prefix ? { Prefix: filter.prefix } : {}),
              ...(options.pageSize ? { MaxKeys: options.pageSize } : {}),
              ...(token ? { ContinuationToken: token } : startAfter ? { StartAfter: startAfter } : {}),
            }),
            calls.signal ? { abortSignal: calls.signal } : {},
          ),
        calls.retry,
        { isRetryable: (e) => !calls.signal?.aborted && isRetryableAwsError(e), onRetry: calls.onRetry, ...(calls.signal ? { signal: calls.signal } : {}) },
      )
    } catch (error) {
      if (error instanceof HydratorError) throw error
      throw s3Error(error, { bucket: calls.bucket, key: filter.prefix }, 'ListObjectsV2', SOURCE_NEEDS)
    }
    options.onPage?.()
    for (const c of page.Contents ?? []) {
      if (c.Key === undefined) continue
      if (range?.before != null && compareKeys(c.Key, range.before) >= 0) return
      if (range?.from != null && compareKeys(c.Key, range.from) < 0) continue
      const object: S3Object = {
        key: c.Key,
        ...(c.Size !== undefined ? { size: c.Size } : {}),
        ...(c.LastModified ? { lastModified: new Date(c.LastModified) } : {}),
        ...(c.StorageClass ? { storageClass: c.StorageClass } : {}),
        ...(c.ETag ? { etag: c.ETag } : {}),
      }
      if (passes(object, filter)) yield object
    }
    if (!page.IsTruncated || !page.NextContinuationToken) return
    token = page.NextContinuationToken
  }
}

/** An S3 Inventory manifest: its data files (gzip CSV) and their columns. */
export interface InventoryManifest {
  readonly bucket: string
  readonly columns: readonly string[]
  readonly files: readonly { readonly key: string; readonly size?: number }[]
}

/** Reads `manifest.json` of an S3 Inventory report (CSV only): where its data files are, and their columns. */
export async function readManifest(calls: S3Calls, at: { readonly bucket: string; readonly key: string }): Promise<InventoryManifest> {
  const text = (await getWhole({ ...calls, bucket: at.bucket }, at.key)).toString('utf8')
  const where = `the inventory manifest s3://${at.bucket}/${at.key}`
  let json: { fileFormat?: unknown; fileSchema?: unknown; destinationBucket?: unknown; files?: unknown }
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new HydratorError('ERR_INVALID_OPTION', `${where} is not JSON: ${errorMessage(error)}`)
  }
  if (String(json.fileFormat).toUpperCase() !== 'CSV') {
    throw new HydratorError('ERR_INVALID_OPTION', `${where} has fileFormat \`${String(json.fileFormat)}\`: only CSV inventories can be read (configure the inventory as CSV)`)
  }
  const columns = typeof json.fileSchema === 'string' ? json.fileSchema.split(',').map((c) => c.trim()) : []
  if (!columns.includes('Key') || !Array.isArray(json.files)) {
    throw new HydratorError('ERR_INVALID_OPTION', `${where} lacks a fileSchema with a Key column, or its files`)
  }
  const dest = typeof json.destinationBucket === 'string' ? json.destinationBucket.replace(/^arn:aws[a-z-]*:s3:::/, '') : at.bucket
  const files = (json.files as { key?: unknown; size?: unknown }[]).map((f) => {
    if (typeof f?.key !== 'string') throw new HydratorError('ERR_INVALID_OPTION', `${where}: a file without a key`)
    return { key: f.key, ...(typeof f.size === 'number' ? { size: f.size } : {}) }
  })
  return { bucket: dest || at.bucket, columns, files }
}

/**
 * The objects an inventory lists, file by file and row by row (files `from` up to `before` of the
 * manifest's list, a share), filtered. Keys in the CSV are URL-encoded, as S3 Inventory writes them.
 */
export async function* manifestObjects(
  calls: S3Calls,
  manifest: InventoryManifest,
  filter: S3Filter,
  files: { readonly from: number; readonly before: number } | undefined,
): AsyncGenerator<S3Object, void, undefined> {
  const col = (name: string) => manifest.columns.indexOf(name)
  const [k, s, m, c] = [col('Key'), col('Size'), col('LastModifiedDate'), col('StorageClass')]
  const from = files?.from ?? 0
  const before = Math.min(files?.before ?? manifest.files.length, manifest.files.length)
  for (let i = from; i < before; i++) {
    const file = manifest.files[i]!
    const raw = await getWhole({ ...calls, bucket: manifest.bucket }, file.key)
    const input = file.key.endsWith('.gz') ? Readable.from([raw]).pipe(createGunzip()) : Readable.from([raw])
    let rest = ''
    const rows = async function* () {
      for await (const chunk of input as AsyncIterable<Buffer>) {
        const text = rest + chunk.toString('utf8')
        const lines = text.split('\n')
        rest = lines.pop()!
        yield* lines
      }
      if (rest) yield rest
    }
    for await (const line of rows()) {
      if (line.trim() === '') continue
      const cells = parseCsvLine(line.replace(/\r$/, ''))
      const key = decodeInventoryKey(cells[k] ?? '')
      const object: S3Object = {
        key,
        ...(s >= 0 && cells[s] ? { size: Number(cells[s]) } : {}),
        ...(m >= 0 && cells[m] ? { lastModified: new Date(cells[m]!) } : {}),
        ...(c >= 0 && cells[c] ? { storageClass: cells[c]! } : {}),
      }
      if (key && passes(object, filter)) yield object
    }
  }
}

function decodeInventoryKey(cell: string): string {
  try {
    return decodeURIComponent(cell.replace(/\+/g, ' '))
  } catch {
    return cell
  }
}

/** One CSV row: fields optionally in double quotes, `""` a quote inside them. */
export function parseCsvLine(line: string): string[] {
  const cells: string[] = []
  let i = 0
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = ''
      i++
      for (;;) {
        const q = line.indexOf('"', i)
        if (q === -1) {
          value += line.slice(i)
          i = line.length
          break
        }
        value += line.slice(i, q)
        if (line[q + 1] === '"') {
          value += '"'
          i = q + 2
        } else {
          i = q + 1
          break
        }
      }
      cells.push(value)
      i = line.indexOf(',', i) === -1 ? line.length + 1 : line.indexOf(',', i) + 1
    } else {
      const comma = line.indexOf(',', i)
      cells.push(comma === -1 ? line.slice(i) : line.slice(i, comma))
      i = comma === -1 ? line.length + 1 : comma + 1
    }
  }
  return cells
}

/** A small object read whole (a manifest, an inventory file), passing errors retried. */
export async function getWhole(calls: S3Calls, key: string): Promise<Buffer> {
  const { GetObjectCommand } = await loadS3Sdk()
  try {
    return await withRetry(
      async () => {
        const out = await calls.client.send(new GetObjectCommand({ Bucket: calls.bucket, Key: key }), calls.signal ? { abortSignal: calls.signal } : {})
        return Buffer.from(await out.Body!.transformToByteArray())
      },
      calls.retry,
      { isRetryable: (e) => !calls.signal?.aborted && isRetryableAwsError(e), onRetry: calls.onRetry, ...(calls.signal ? { signal: calls.signal } : {}) },
    )
  } catch (error) {
    const mapped = s3Error(error, { bucket: calls.bucket, key }, 'GetObject', SOURCE_NEEDS)
    if ((error as { name?: string }).name === 'NoSuchKey') {
      throw new HydratorError('ERR_TARGET_NOT_FOUND', `s3://${calls.bucket}/${key} does not exist`, { cause: error })
    }
    throw mapped
  }
}
