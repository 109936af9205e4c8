// `s3://bucket/prefix?...` as a sink: the URI checked before the SDK loads, then the client the
// CLI builds for it from the URI and the environment.
import { HydratorError } from '../errors.js'
import type { FactoryContext, ParsedUri } from '../registry.js'
import type { Sink } from '../types.js'
import { boolParam, checkParams, intParam } from '../uri.js'
import { awsRequestHandler, loadAwsSdk } from '../util/aws.js'
import { redactUri } from '../util/options.js'
import { parseS3Location, s3ClientConfig } from './client.js'
import { toS3, type ToS3Options } from './sink.js'

const SINK_PARAMS = ['region', 'endpoint', 'profile', 'timeoutMs', 'maxEvents', 'maxBytes', 'partitionBy', 'writer', 'overwrite']

const UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 }

/** `?maxBytes=`: bytes, or with a unit (`64MB`, `512KiB`; units of 1024). */
function bytesParam(uri: ParsedUri): number | undefined {
  const raw = uri.params.get('maxBytes')
  if (raw === null || raw === '') return undefined
  const m = /^(\d+)\s*([a-z]*)$/i.exec(raw.trim())
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined
  const n = m && unit !== undefined ? Number(m[1]) * unit : NaN
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new HydratorError('ERR_INVALID_URI', `expected \`maxBytes\` in \`${redactUri(uri.uri)}\` to be a size such as \`67108864\` or \`64MB\`, got \`${raw.slice(0, 40)}\``)
  }
  return n
}

/** The bucket and prefix of `s3://bucket/prefix` (`s3://bucket` or `s3://bucket/` for the bucket's root). */
function sinkPlace(uri: ParsedUri): { bucket: string; prefix: string } {
  // The bucket's root has no key: check the bucket name as parseS3Location would one with a key.
  const root = /^\/\/[^/]*\/?$/.test(uri.path)
  const { bucket, key } = parseS3Location(root ? { ...uri, path: `${uri.path.replace(/\/$/, '')}/-` } : uri)
  return { bucket, prefix: root ? '' : key.replace(/^\/+|\/+$/g, '') }
}

/**
 * `s3://bucket/prefix?maxEvents=&maxBytes=&partitionBy=&writer=&overwrite=&region=&endpoint=&profile=&timeoutMs=`
 * as a {@link toS3} sink: options are checked before the SDK loads. A resumed run gets the
 * checkpoint's sink state; a share of a split run writes `part-share<i>-<seq>` names, so the shares
 * can share a prefix. event-hydrator retries PutObject itself (counted in the report), so the
 * client makes one attempt per call; the client is destroyed when the run ends.
 */
export async function s3Sink(uri: ParsedUri, context: FactoryContext): Promise<Sink> {
  checkParams(uri, SINK_PARAMS)
  const { bucket, prefix } = sinkPlace(uri)
  const maxEvents = intParam(uri, 'maxEvents', 1)
  const maxBytes = bytesParam(uri)
  const requestTimeoutMs = intParam(uri, 'timeoutMs', 1)
  const partitionBy = uri.params.get('partitionBy') || undefined
  const overwrite = boolParam(uri, 'overwrite')
  const share = context.share
  const writer = uri.params.get('writer') || (share ? `share${String(share.index).padStart(String(share.count - 1).length, '0')}` : undefined)
  const options: Omit<ToS3Options, 'client'> = {
    bucket,
    prefix,
    // the report's: an ?endpoint= may hold credentials
    uri: redactUri(uri.uri),
    ...(maxEvents !== undefined ? { maxEvents } : {}),
    ...(maxBytes !== undefined ? { maxBytes } : {}),
    ...(partitionBy !== undefined ? { partitionBy } : {}),
    ...(writer !== undefined ? { writer } : {}),
    ...(overwrite !== undefined ? { overwrite } : {}),
    ...(context.resumeSink !== undefined ? { resume: context.resumeSink } : {}),
    ...(context.retry ? { retry: context.retry } : {}),
  }
  // Bad options fail here, before the SDK loads or any connection.
  toS3({ ...options, client: { send: async () => ({}) } as never })
  const config = s3ClientConfig(uri, context.env)
  const sdk = await loadAwsSdk('@aws-sdk/client-s3', () => import('@aws-sdk/client-s3'))
  const client = new sdk.S3Client({
    ...config,
    // Real S3 only: a bucket in another region than the client's is followed there, not a 301.
    followRegionRedirects: true,
    maxAttempts: 1,
    requestHandler: awsRequestHandler(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
  })
  context.onClose(() => client.destroy())
  return toS3({ ...options, client })
}
