import type { CheckpointStore } from '../checkpoint/store.js'
import type { FactoryContext, ParsedUri, Plugin } from '../registry.js'
import { checkParams, intParam } from '../uri.js'
import { awsRequestHandler, loadAwsSdk } from '../util/aws.js'
import { s3CheckpointStore } from './checkpoint.js'
import { parseS3Location, s3ClientConfig } from './client.js'
import { s3Sink } from './sink-uri.js'
import { s3Shares, s3Source } from './source-plugin.js'

const CHECKPOINT_PARAMS = ['region', 'endpoint', 'profile', 'timeoutMs']

// A checkpoint write is small and run() waits for it: a request unanswered this long has hung.
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

/**
 * `--checkpoint s3://bucket/key?region=&endpoint=&profile=&timeoutMs=`: the URI is checked before
 * the SDK loads. The SDK retries a dropped connection or a 5xx itself (3 attempts), which a
 * retried conditional write survives (see {@link s3CheckpointStore}); the client is destroyed by
 * the store's `close()` or when the run ends, whichever comes first.
 */
async function s3Checkpoint(uri: ParsedUri, context: FactoryContext): Promise<CheckpointStore> {
  checkParams(uri, CHECKPOINT_PARAMS)
  const location = parseS3Location(uri)
  const config = s3ClientConfig(uri, context.env)
  const requestTimeoutMs = intParam(uri, 'timeoutMs', 1) ?? DEFAULT_REQUEST_TIMEOUT_MS
  const sdk = await loadAwsSdk('@aws-sdk/client-s3', () => import('@aws-sdk/client-s3'))
  const client = new sdk.S3Client({
    ...config,
    // Real S3 only: a bucket in another region than the client's is followed there, not a 301.
    followRegionRedirects: true,
    maxAttempts: 3,
    requestHandler: awsRequestHandler({ requestTimeoutMs }),
  })
  let open = true
  const close = async () => {
    if (open) client.destroy()
    open = false
  }
  context.onClose(close)
  return { ...s3CheckpointStore({ client, ...location }), close }
}

/**
 * The S3 plugin: checkpoint store scheme `s3:` (`--checkpoint s3://bucket/key`), a record kept as
 * one object with conditional writes. @aws-sdk/client-s3 loads only when an `s3:` URI is used.
 * Region, credentials and endpoint come from the standard AWS configuration (AWS_ENDPOINT_URL_S3
 * included), or `?region=`, `?endpoint=` (path-style addressing then, for local servers),
 * `?profile=`.
 *
 * @example
 * registry.register(s3Plugin)
 * const store = await registry.createCheckpointStore('s3://ops-state/hydrate/orders.json?region=eu-west-1', context)
 */
export const s3Plugin: Plugin = {
  name: 's3',
  sources: { s3: s3Source },
  shares: { s3: s3Shares },
  sinks: { s3: s3Sink },
  checkpoints: { s3: s3Checkpoint },
}
