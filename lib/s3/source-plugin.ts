// `s3://bucket/prefix?...` as a source and its share planner: URI to readS3 options, the client the
// CLI builds, and the split of a listing (key ranges) or of an inventory (its data files).
import type { S3Client } from '@aws-sdk/client-s3'
import { HydratorError } from '../errors.js'
import type { FactoryContext, ParsedUri } from '../registry.js'
import type { Source } from '../types.js'
import { checkParams, decodeUriPart, intParam } from '../uri.js'
import { awsRequestHandler } from '../util/aws.js'
import { redactUri } from '../util/options.js'
import { parseS3Location, s3ClientConfig } from './client.js'
import { globToRegExp, listObjects, loadS3Sdk, readManifest, type S3Calls, type S3KeyRange } from './keys.js'
import type { S3Format } from './parse.js'
import { readS3, type ReadS3Options } from './source.js'

const SOURCE_PARAMS = ['region', 'endpoint', 'profile', 'timeoutMs', 'format', 'match', 'after', 'before', 'concurrency', 'pageSize', 'manifest', 'keys', 'keyField', 'maxBufferBytes']

/** The bucket and prefix of `s3://bucket/prefix` (the prefix may be empty). */
export function parseS3Prefix(uri: ParsedUri): { bucket: string; prefix: string } {
  const m = /^\/\/([^/]*)(?:\/(.*))?$/s.exec(uri.path)
  if (!m || !m[1]) throw new HydratorError('ERR_INVALID_URI', `\`${redactUri(uri.uri)}\` names no bucket: expected \`s3://bucket/prefix\`, e.g. \`s3://events/2026/\``)
  // The bucket's rules are the checkpoint's: checked with a stand-in key.
  const { bucket } = parseS3Location({ ...uri, path: `//${m[1]}/-` })
  return { bucket, prefix: decodeUriPart(uri, m[2] ?? '', 'the prefix') }
}

type CreateSource = (uri: string) => Promise<Source>

/** What the factory context may give to build `?keys=`'s source (see the report: FactoryContext.createSource). */
function createSourceOf(context: FactoryContext): CreateSource | undefined {
  return context.createSource
}

async function makeClient(uri: ParsedUri, context: FactoryContext, concurrency: number): Promise<Pick<S3Client, 'send'>> {
  const config = s3ClientConfig(uri, context.env)
  const requestTimeoutMs = intParam(uri, 'timeoutMs', 1) ?? 60_000
  const sdk = await loadS3Sdk()
  const agent = { keepAlive: true, maxSockets: Math.max(50, concurrency + 2) }
  // The source retries (and counts) itself: the SDK makes one attempt.
  const client = new sdk.S3Client({
    ...config,
    followRegionRedirects: true,
    maxAttempts: 1,
    requestHandler: { ...awsRequestHandler({ requestTimeoutMs }), httpAgent: agent, httpsAgent: agent },
  })
  context.onClose(() => client.destroy())
  return client
}

/** The options every use of the URI shares: filters and formats, checked before any client exists. */
function commonOptions(uri: ParsedUri) {
  checkParams(uri, SOURCE_PARAMS)
  const { bucket, prefix } = parseS3Prefix(uri)
  const format = uri.params.get('format') ?? undefined
  if (format !== undefined && !['lines', 'array', 'files'].includes(format)) {
    throw new HydratorError('ERR_INVALID_URI', `unknown \`format=${format}\` in \`${redactUri(uri.uri)}\`: use lines, array or files`)
  }
  const manifestParam = uri.params.get('manifest')
  const manifest = manifestParam
    ? /^s3:\/\//i.test(manifestParam)
      ? parseS3Location({ ...uri, path: manifestParam.slice(3) })
      : { bucket, key: manifestParam }
    : undefined
  if (manifest && uri.params.has('keys')) throw new HydratorError('ERR_INVALID_URI', `\`manifest\` and \`keys\` in \`${redactUri(uri.uri)}\`: give one of them`)
  return {
    bucket,
    prefix,
    manifest,
    uri: redactUri(uri.uri),
    ...(format ? { format: format as S3Format } : {}),
    ...(uri.params.get('match') ? { match: uri.params.get('match')! } : {}),
    ...(uri.params.get('after') ? { modifiedAfter: uri.params.get('after')! } : {}),
    ...(uri.params.get('before') ? { modifiedBefore: uri.params.get('before')! } : {}),
    ...(intParam(uri, 'pageSize', 1) !== undefined ? { pageSize: intParam(uri, 'pageSize', 1)! } : {}),
    ...(intParam(uri, 'maxBufferBytes', 0) !== undefined ? { maxBufferBytes: intParam(uri, 'maxBufferBytes', 0)! } : {}),
    concurrency: intParam(uri, 'concurrency', 1) ?? 16,
  }
}

/** The own property at a dotted path of an event (`key`, `detail.key`), or undefined. */
function valueAt(event: unknown, path: string): unknown {
  let v = event
  for (const part of path.split('.')) {
    if (!v || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, part)) return undefined
    v = (v as Record<string, unknown>)[part]
  }
  return v
}

/**
 * `s3://bucket/prefix?match=&after=&before=&format=&concurrency=&pageSize=&manifest=&keys=&keyField=`
 * as a source: everything is checked before the SDK loads; the run's checkpoint position
 * (`context.resume`) and share (`context.share`) go to {@link readS3}.
 */
export async function s3Source(uri: ParsedUri, context: FactoryContext): Promise<Source> {
  const { manifest, ...common } = commonOptions(uri)
  const keysUri = uri.params.get('keys')
  const keyField = uri.params.get('keyField') || 'key'
  if (uri.params.has('keyField') && !keysUri) throw new HydratorError('ERR_INVALID_URI', `\`keyField\` goes with \`keys=<source URI>\` in \`${common.uri}\``)
  let range: S3KeyRange | undefined
  let files: { from: number; before: number } | undefined
  if (context.share) {
    const part = context.share.part as { keyRange?: S3KeyRange; manifestFiles?: { from: number; before: number } }
    if (manifest && part.manifestFiles && Number.isInteger(part.manifestFiles.from) && Number.isInteger(part.manifestFiles.before)) files = part.manifestFiles
    else if (!manifest && !keysUri && part.keyRange && 'from' in part.keyRange && 'before' in part.keyRange) range = part.keyRange
    else throw new HydratorError('ERR_SHARE_MISMATCH', `--share: not a share of \`${common.uri}\` (expected { ${manifest ? 'manifestFiles: { from, before }' : 'keyRange: { from, before }'} } in its part)`)
  }
  const maxFailures = typeof context.flags.maxFailures === 'number' && Number.isFinite(context.flags.maxFailures) ? context.flags.maxFailures : undefined
  const options = (client: Pick<S3Client, 'send'>, keys?: ReadS3Options['keys']): ReadS3Options => ({
    ...common,
    client,
    ...(manifest ? { manifest: { ...manifest, ...(files ? { files } : {}) } } : {}),
    ...(range ? { range } : {}),
    ...(keys ? { keys } : {}),
    ...(context.retry ? { retry: context.retry } : {}),
    ...(maxFailures !== undefined ? { maxFailures } : {}),
    ...(context.resume ? { resumeFrom: context.resume } : {}),
  })
  const standIn = { send: async () => ({}) } as unknown as Pick<S3Client, 'send'>
  readS3(options(standIn)) // options checked before the client exists
  let keys: ReadS3Options['keys']
  if (keysUri) {
    const createSource = createSourceOf(context)
    if (!createSource) throw new HydratorError('ERR_INVALID_URI', `\`keys=\` in \`${common.uri}\` needs the CLI or hydrate() to build its source; in code, give readS3 \`keys\``)
    const inner = await createSource(keysUri)
    const values = (async function* keyValues() {
      for await (const event of inner) yield valueAt(event, keyField)
    })()
    keys = Object.assign(values, inner.addFailureListener ? { addFailureListener: inner.addFailureListener.bind(inner) } : {})
  }
  return readS3(options(await makeClient(uri, context, common.concurrency), keys))
}

/**
 * A listing split `count` ways: key ranges of whole objects, contiguous in UTF-8 order and about
 * equal in bytes (two listings: one to weigh, one to cut); shares left over are empty. An
 * inventory is split by its data files, about equal in bytes. `keys=` cannot be split.
 */
export async function s3Shares(uri: ParsedUri, count: number, context: FactoryContext): Promise<Record<string, unknown>[]> {
  const { manifest, ...common } = commonOptions(uri)
  if (uri.params.has('keys')) throw new HydratorError('ERR_SHARES_UNSUPPORTED', `\`${common.uri}\` takes its keys from another source (\`keys=\`): split that source, or use a listing or \`manifest=\``)
  readS3({ ...common, client: { send: async () => ({}) } as unknown as Pick<S3Client, 'send'> }) // checks the options
  const client = await makeClient(uri, context, 4)
  const calls: S3Calls = { client, bucket: common.bucket, ...(context.retry ? { retry: context.retry } : {}), onRetry: () => {} }
  if (manifest) {
    const { files } = await readManifest(calls, manifest)
    return cut(files.map((f) => f.size ?? 1), count).map(([from, before]) => ({ manifestFiles: { from, before } }))
  }
  const filter = {
    prefix: common.prefix,
    ...(common.match ? { match: globToRegExp(common.match) } : {}),
    ...(common.modifiedAfter ? { modifiedAfter: new Date(common.modifiedAfter) } : {}),
    ...(common.modifiedBefore ? { modifiedBefore: new Date(common.modifiedBefore) } : {}),
  }
  const listing = () => listObjects(calls, filter, common.pageSize ? { pageSize: common.pageSize } : {})
  let total = 0
  for await (const o of listing()) total += (o.size ?? 0) + 1
  const starts: string[] = []
  let acc = 0
  for await (const o of listing()) {
    if (starts.length + 1 >= count) break
    const weight = (o.size ?? 0) + 1
    // A share starts at the object whose middle passes its share of the weight.
    if (acc > 0 && ((acc + weight / 2) / total) * count >= starts.length + 1) starts.push(o.key)
    acc += weight
  }
  const ranges: S3KeyRange[] = [null, ...starts].map((from, i) => ({ from, before: i < starts.length ? starts[i]! : null }))
  // Fewer objects than shares: the shares left over are empty.
  while (ranges.length < count) ranges.push({ from: '', before: '' })
  return ranges.map((keyRange) => ({ keyRange }))
}

/** `weights` cut into `count` contiguous index ranges [from, before) about equal in weight; extra ones empty. */
function cut(weights: readonly number[], count: number): [number, number][] {
  const total = weights.reduce((a, b) => a + b, 0)
  const starts = [0]
  let acc = 0
  for (let i = 0; i < weights.length && starts.length < count; i++) {
    if (i > 0 && ((acc + weights[i]! / 2) / total) * count >= starts.length) starts.push(i)
    acc += weights[i]!
  }
  const out = starts.map((from, i): [number, number] => [from, i + 1 < starts.length ? starts[i + 1]! : weights.length])
  while (out.length < count) out.push([weights.length, weights.length])
  return out
}
