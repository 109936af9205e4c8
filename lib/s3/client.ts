// Where `s3://bucket/key` points, and the S3 client configuration the CLI builds for it from the URI
// and the environment. The library functions take a ready client and never call these.
import { HydratorError } from '../errors.js'
import type { ParsedUri } from '../registry.js'
import { decodeUriPart } from '../uri.js'
import { awsClientConfig, type AwsClientConfig } from '../util/aws.js'
import { redactUri } from '../util/options.js'

/** An object in S3: its bucket and key. */
export interface S3Location {
  readonly bucket: string
  readonly key: string
}

// S3's rules, widened to what older us-east-1 buckets may be called (up to 255 characters,
// capitals and underscores); S3 itself refuses anything else.
const BUCKET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/
const MAX_KEY_BYTES = 1024

/**
 * The bucket and key of `s3://bucket/key` (the key percent-decoded, `/` kept), checked as S3 would
 * before any client is made. Throws ERR_INVALID_URI naming the URI with its secrets hidden.
 *
 * @example
 * parseS3Location(parseUri('s3://ops-state/hydrate/orders.json')) // { bucket: 'ops-state', key: 'hydrate/orders.json' }
 */
export function parseS3Location(uri: ParsedUri): S3Location {
  const shown = redactUri(uri.uri)
  const m = /^\/\/([^/]*)\/(.*)$/s.exec(uri.path)
  if (!m || !m[1] || !m[2]) {
    throw new HydratorError('ERR_INVALID_URI', `\`${shown}\` names no S3 object: expected \`s3://bucket/key\`, e.g. \`s3://ops-state/hydrate/orders.json\``)
  }
  const bucket = m[1]
  if (!BUCKET_NAME.test(bucket)) {
    throw new HydratorError(
      'ERR_INVALID_URI',
      `\`${bucket.slice(0, 80)}\` in \`${shown}\` is not an S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit`,
    )
  }
  const key = decodeUriPart(uri, m[2], 'the object key')
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new HydratorError('ERR_INVALID_URI', `the object key in \`${shown.slice(0, 120)}...\` is ${Buffer.byteLength(key)} bytes long; S3 allows ${MAX_KEY_BYTES}`)
  }
  return { bucket, key }
}

/** The S3 client configuration: {@link AwsClientConfig} plus path-style addressing for custom endpoints. */
export interface S3ConfigOfUri extends AwsClientConfig {
  /** `http://endpoint/bucket/key` rather than `http://bucket.endpoint/key`: set with a custom endpoint. */
  forcePathStyle?: true
}

/**
 * The configuration of the S3 client the CLI builds for `s3://bucket/key?region=&endpoint=&profile=`:
 * region from `?region=`, AWS_REGION or AWS_DEFAULT_REGION; endpoint from `?endpoint=`,
 * AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (not with AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), and
 * path-style addressing with it, which local servers (MinIO, s3rver, LocalStack) need; profile and
 * credentials as for every AWS client (see {@link awsClientConfig}). Throws ERR_INVALID_URI for an
 * endpoint that is not an http(s) URL.
 *
 * @example
 * s3ClientConfig(parseUri('s3://b/k?endpoint=http://127.0.0.1:9000'), { AWS_REGION: 'eu-west-1' })
 * // { region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true }
 */
export function s3ClientConfig(uri: ParsedUri, env: Readonly<Record<string, string | undefined>>): S3ConfigOfUri {
  const ignoreEnvEndpoints = (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '').toLowerCase() === 'true'
  const endpoint = uri.params.get('endpoint') || (ignoreEnvEndpoints ? '' : env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || '')
  // The shared helper knows the endpoint variables of the services it was written for, not
  // AWS_ENDPOINT_URL_S3: it gets the endpoint chosen here as the URI's own, with the variables
  // switched off, so the service it is told (any will do then) plays no part.
  const params = new URLSearchParams(uri.params)
  if (endpoint) params.set('endpoint', endpoint)
  else params.delete('endpoint')
  const config: S3ConfigOfUri = awsClientConfig({ ...uri, params }, { ...env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }, 'dynamodb')
  if (config.endpoint) config.forcePathStyle = true
  return config
}
