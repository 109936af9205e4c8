// A checkpoint kept as one S3 object, its compare-and-set made with S3's conditional writes:
// PutObject with If-None-Match: * (create) or If-Match: <ETag> (replace), DeleteObject with If-Match.
import type { DeleteObjectCommandInput, GetObjectCommandInput, PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3'
import type { CheckpointStore, StoredText } from '../checkpoint/store.js'
import { HydratorError } from '../errors.js'
import { loadAwsSdk } from '../util/aws.js'
import type { S3Location } from './client.js'
import { attemptsOf, isConditionFailed, isMissingObject, s3Error, type S3Operation } from './errors.js'

/** Where {@link s3CheckpointStore} keeps its record, and the client it talks to S3 with. */
export interface S3CheckpointStoreOptions {
  /** An S3 client (`new S3Client({ region })`), typed structurally. The store never destroys it. */
  readonly client: Pick<S3Client, 'send'>
  /** The bucket, which must exist. */
  readonly bucket: string
  /** The object key of the record, e.g. `hydrate/orders.json`. */
  readonly key: string
  /** The largest object `load()` reads, in bytes: anything larger is not a checkpoint. @default 16777216 (16 MiB) */
  readonly maxBytes?: number
}

const DEFAULT_MAX_BYTES = 16 * 1024 * 1024

/** @internal The store's requests, built apart from sending them. */
export const checkpointRequests = {
  get: (at: S3Location): GetObjectCommandInput => ({ Bucket: at.bucket, Key: at.key }),
  put: (at: S3Location, text: string, expected: string | undefined): PutObjectCommandInput => ({
    Bucket: at.bucket,
    Key: at.key,
    Body: text,
    ContentType: 'application/json; charset=utf-8',
    ...(expected === undefined ? { IfNoneMatch: '*' } : { IfMatch: expected }),
  }),
  delete: (at: S3Location, expected: string): DeleteObjectCommandInput => ({ Bucket: at.bucket, Key: at.key, IfMatch: expected }),
}

function checkOptions(options: S3CheckpointStoreOptions): Required<Omit<S3CheckpointStoreOptions, 'client'>> {
  if (!options || typeof options.client?.send !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', 'expected `client` to be an S3 client (an object with `send`)')
  }
  for (const name of ['bucket', 'key'] as const) {
    const value: unknown = options[name]
    if (typeof value !== 'string' || value === '') {
      throw new HydratorError('ERR_INVALID_OPTION', `expected \`${name}\` to be a non-empty string, got \`${String(value).slice(0, 80)}\``)
    }
  }
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  if (!Number.isInteger(maxBytes) || maxBytes < 1) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`maxBytes\` to be an integer >= 1, got \`${maxBytes}\``)
  }
  return { bucket: options.bucket, key: options.key, maxBytes }
}

function checkExpected(expected: unknown, optional: boolean): void {
  if (expected === undefined && optional) return
  // `*` would match any version: a compare that compares nothing.
  if (typeof expected !== 'string' || expected === '' || expected === '*') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected the version to compare with to be an ETag from load() or save(), got \`${String(expected).slice(0, 80)}\``)
  }
}

/**
 * A {@link CheckpointStore} keeping the record as the S3 object `s3://bucket/key`: `load()` is a
 * GetObject (undefined when there is no object; the version is its ETag), `save(text, undefined)`
 * a PutObject with If-None-Match: * and `save(text, etag)` one with If-Match: etag, so a writer
 * whose version is stale writes nothing and gets `undefined` (S3 answers 412, or 409 when a
 * concurrent conditional write to the key is in progress). `remove(etag)` reads first, then
 * deletes with If-Match. The IAM actions it needs: s3:GetObject, s3:PutObject, s3:DeleteObject for
 * `remove`, and s3:ListBucket, without which S3 answers a missing key with 403.
 *
 * Throws ERR_TARGET_NOT_FOUND for a missing bucket, ERR_AUTH when S3 refuses, ERR_CONNECTION when it
 * cannot be reached; a save that rejects may or may not have been written: `load()` tells. When the
 * SDK retried a save (its answer was lost) and S3 then reports the condition failed, the store
 * reads the object back: holding exactly `text`, the first attempt was the one that wrote it, and
 * the save resolves with that version. ETags of plain PutObjects are the MD5 of the content, so a
 * record written again with the same text has the same version, which compares equal, as it should.
 *
 * @example
 * const store = s3CheckpointStore({ client: new S3Client({ region: 'eu-west-1' }), bucket: 'ops-state', key: 'hydrate/orders.json' })
 * const first = await store.save('{"lease":"a"}', undefined) // the ETag, or undefined if the record already exists
 * const next = await store.save('{"lease":"a","line":10}', first) // undefined if someone wrote meanwhile
 */
export function s3CheckpointStore(options: S3CheckpointStoreOptions): CheckpointStore {
  const { bucket, key, maxBytes } = checkOptions(options)
  const { client } = options
  const at: S3Location = { bucket, key }
  const uri = `s3://${bucket}/${key}`
  let sdk: Promise<typeof import('@aws-sdk/client-s3')> | undefined
  const loadSdk = () => (sdk ??= loadAwsSdk('@aws-sdk/client-s3', () => import('@aws-sdk/client-s3')))

  const versionOf = (etag: string | undefined, operation: S3Operation): string => {
    if (etag) return etag
    throw new HydratorError('ERR_TARGET_SCHEMA', `${operation} on ${uri} answered without an ETag: an S3 checkpoint needs ETags for its compare-and-set`)
  }

  async function load(): Promise<StoredText | undefined> {
    const { GetObjectCommand } = await loadSdk()
    let out
    try {
      out = await client.send(new GetObjectCommand(checkpointRequests.get(at)))
    } catch (error) {
      if (isMissingObject(error)) return undefined
      throw s3Error(error, at, 'GetObject')
    }
    const body = out.Body
    if (out.ContentLength !== undefined && out.ContentLength > maxBytes) {
      ;(body as { destroy?: () => void } | undefined)?.destroy?.()
      throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `${uri} is ${out.ContentLength} bytes, more than a checkpoint record (maxBytes ${maxBytes}): is it the right object?`)
    }
    let text: string
    try {
      text = body ? await body.transformToString('utf-8') : ''
    } catch (error) {
      throw s3Error(error, at, 'GetObject')
    }
    return { text, version: versionOf(out.ETag, 'GetObject') }
  }

  async function save(text: string, expected: string | undefined): Promise<string | undefined> {
    if (typeof text !== 'string') throw new HydratorError('ERR_INVALID_OPTION', `expected the checkpoint text to be a string, got ${typeof text}`)
    checkExpected(expected, true)
    const { PutObjectCommand } = await loadSdk()
    let out
    try {
      out = await client.send(new PutObjectCommand(checkpointRequests.put(at, text, expected)))
    } catch (error) {
      // If-Match on a key that is gone: S3 answers 404 NoSuchKey. The compare failed all the same.
      if (!isConditionFailed(error) && !(expected !== undefined && isMissingObject(error))) throw s3Error(error, at, 'PutObject')
      if (attemptsOf(error) === 1) return undefined
      const now = await load()
      return now?.text === text ? now.version : undefined
    }
    return versionOf(out.ETag, 'PutObject')
  }

  async function remove(expected: string): Promise<boolean> {
    checkExpected(expected, false)
    // Read first: a server that ignores If-Match on DeleteObject (S3 honours it since September
    // 2025; other S3-compatible servers may not) then still deletes only the version expected,
    // with a short race instead of none.
    if ((await load())?.version !== expected) return false
    const { DeleteObjectCommand } = await loadSdk()
    try {
      await client.send(new DeleteObjectCommand(checkpointRequests.delete(at, expected)))
      return true
    } catch (error) {
      // A retried delete finds the key gone: the attempt whose answer was lost deleted it.
      if (isMissingObject(error)) return attemptsOf(error) > 1
      if (isConditionFailed(error)) return false
      throw s3Error(error, at, 'DeleteObject')
    }
  }

  return { uri, load, save, remove }
}
