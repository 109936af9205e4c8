import type { Client, ClientOptions } from '@opensearch-project/opensearch'
import { HydratorError, errorMessage } from '../errors.js'
import type { Mapping } from '../mapping.js'
import { toOpenSearch } from './sink.js'
import type { RebuildOptions } from '../rebuild.js'
import { searchOpenSearch } from './search.js'
import type { OpenSearchCursor } from './sort.js'
import type { Position, Sink, Source } from '../types.js'
import { redactUri } from '../util/options.js'
import type { FactoryContext, ParsedUri, Plugin } from '../registry.js'
import { decodeUriPart, parseServerUrl } from '../uri.js'

/** Query parameters read by the scheme itself; they never reach the report with secrets in them. */
interface Target {
  /** `http(s)://host:port`, without credentials or path. */
  readonly node: string
  /** The index from the path (first segment), when there is one. */
  readonly pathIndex?: string
  readonly auth?: { readonly username: string; readonly password: string }
  /** The URI for the report: password replaced by `***`. */
  readonly display: string
}

const USAGE =
  'use `opensearch:http://localhost:9200/<index>` (or `opensearch+https://user:pass@host:9200/<index>`), or `opensearch:<index>` with OPENSEARCH_URL set'

function targetOf(uri: ParsedUri, env: FactoryContext['env']): Target {
  let urlText: string
  const rest = uri.rest
  if (uri.scheme === 'opensearch+http' || uri.scheme === 'opensearch+https') {
    if (!rest.startsWith('//')) throw new HydratorError('ERR_INVALID_URI', `\`${redactUri(uri.uri)}\` has no host: ${USAGE}`)
    urlText = `${uri.scheme.slice('opensearch+'.length)}:${rest}`
  } else if (/^https?:\/\//i.test(rest)) {
    urlText = rest
  } else if (rest.startsWith('//')) {
    urlText = `https:${rest}`
  } else {
    const base = env.OPENSEARCH_URL
    if (!base) throw new HydratorError('ERR_USAGE', `\`${redactUri(uri.uri)}\` names no cluster and OPENSEARCH_URL is not set: ${USAGE}`)
    if (!/^https?:\/\//i.test(base)) throw new HydratorError('ERR_INVALID_URI', `OPENSEARCH_URL must be an http(s) URL, got \`${redactUri(base)}\``)
    const base_ = parseServerUrl(base, { expected: 'http(s)://user@host:9200', label: 'OPENSEARCH_URL' })
    urlText = `${base_.protocol}//${base_.username ? `${base_.username}${base_.password ? `:${base_.password}` : ''}@` : ''}${base_.host}/${rest}`
  }
  // The client would throw a bare TypeError, or send part of a password with an unencoded `/`, `?`
  // or `#` as the path: checked here, with the password hidden.
  const url = parseServerUrl(urlText, { expected: `opensearch:http://localhost:9200/<index>`, shown: uri.uri })
  const segments = url.pathname
    .split('/')
    .filter(Boolean)
    .map((segment) => decodeUriPart(uri, segment, 'the index name'))
  if (segments.length > 1) {
    throw new HydratorError('ERR_INVALID_URI', `\`${redactUri(uri.uri)}\`: the path is the index name, one segment, got \`${url.pathname}\``)
  }
  const username = url.username ? decodeURIComponent(url.username) : env.OPENSEARCH_USERNAME
  const password = url.password ? decodeURIComponent(url.password) : env.OPENSEARCH_PASSWORD
  const node = `${url.protocol}//${url.host}`
  const query = uri.params.toString()
  const display = `opensearch:${url.protocol}//${username ? `${encodeURIComponent(username)}${password ? ':***' : ''}@` : ''}${url.host}${
    segments[0] ? `/${encodeURIComponent(segments[0])}` : ''
  }${query ? `?${query}` : ''}`
  return {
    node,
    ...(segments[0] ? { pathIndex: segments[0] } : {}),
    ...(username ? { auth: { username, password: password ?? '' } } : {}),
    display: redactUri(display),
  }
}

function param(uri: ParsedUri, ...names: string[]): string | undefined {
  for (const name of names) {
    const v = uri.params.get(name)
    if (v !== null && v !== '') return v
  }
  return undefined
}

function intParam(uri: ParsedUri, ...names: string[]): number | undefined {
  const v = param(uri, ...names)
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n)) throw new HydratorError('ERR_INVALID_URI', `expected \`${names[0]}\` to be a whole number, got \`${v}\``)
  return n
}

function jsonParam(uri: ParsedUri, name: string, what: string): unknown {
  const v = param(uri, name)
  if (v === undefined) return undefined
  try {
    return JSON.parse(v)
  } catch (error) {
    throw new HydratorError('ERR_INVALID_URI', `\`${name}=\` must be ${what} in JSON: ${errorMessage(error)}`)
  }
}

/** Builds a client the way the URI and environment say; the CLI closes it when the run ends. */
async function clientOf(uri: ParsedUri, target: Target, context: FactoryContext): Promise<Client> {
  let Client: typeof import('@opensearch-project/opensearch').Client
  try {
    ;({ Client } = await import('@opensearch-project/opensearch'))
  } catch (error) {
    throw new HydratorError(
      'ERR_PLUGIN',
      `the opensearch scheme needs the \`@opensearch-project/opensearch\` package: npm install @opensearch-project/opensearch (${errorMessage(error)})`,
    )
  }
  const options: ClientOptions = {
    node: target.node,
    // Retries are the source's and sink's own (backoff, per-item); the client's would multiply them.
    maxRetries: 0,
    requestTimeout: intParam(uri, 'timeout-ms', 'timeoutMs') ?? 60_000,
  }
  if (param(uri, 'insecure') === 'true') options.ssl = { rejectUnauthorized: false }
  const aws = param(uri, 'aws')
  if (aws !== undefined) {
    const service = aws === 'true' || aws === 'es' ? 'es' : aws === 'aoss' ? 'aoss' : undefined
    if (!service) throw new HydratorError('ERR_INVALID_URI', `\`aws=${aws}\`: use \`aws=es\` (Amazon OpenSearch Service) or \`aws=aoss\` (Serverless)`)
    const region = param(uri, 'region') ?? context.env.AWS_REGION ?? context.env.AWS_DEFAULT_REGION
    if (!region) throw new HydratorError('ERR_USAGE', `signing for AWS needs a region: add \`&region=eu-west-1\` or set AWS_REGION`)
    if (target.auth) throw new HydratorError('ERR_USAGE', 'give either a user and password or `aws=`, not both')
    const { AwsSigv4Signer } = await import('@opensearch-project/opensearch/aws')
    Object.assign(options, AwsSigv4Signer({ region, service, getCredentials: await credentialsOf(context.env) }))
  } else if (target.auth) {
    options.auth = { username: target.auth.username, password: target.auth.password }
  }
  const client = new Client(options)
  context.onClose(() => client.close())
  return client
}

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }

/** Static keys from the given environment, else the AWS SDK's default chain (profiles, SSO, instance and container roles). */
async function credentialsOf(env: FactoryContext['env']): Promise<() => Promise<Credentials>> {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    const credentials: Credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    }
    return async () => credentials
  }
  let defaultProvider: (init?: { profile?: string }) => () => Promise<Credentials>
  try {
    ;({ defaultProvider } = (await import('@aws-sdk/credential-provider-node')) as unknown as { defaultProvider: typeof defaultProvider })
  } catch (error) {
    throw new HydratorError(
      'ERR_PLUGIN',
      `signing for AWS without AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY needs @aws-sdk/credential-provider-node: npm install @aws-sdk/credential-provider-node (${errorMessage(error)})`,
    )
  }
  return defaultProvider(env.AWS_PROFILE ? { profile: env.AWS_PROFILE } : {})
}

function parseSortParam(value: string | undefined, uri: ParsedUri): string[] {
  if (!value) {
    throw new HydratorError(
      'ERR_USAGE',
      `the opensearch source needs an order: add \`?sort=<time field>,<unique field>\` (e.g. \`sort=time,id\`) to \`${redactUri(uri.uri)}\``,
    )
  }
  return value.split(',').map((s) => s.trim()).filter(Boolean)
}

function resumeSort(position: Position): OpenSearchCursor {
  if (position.kind !== 'opensearch' || !Array.isArray(position.sort)) {
    throw new HydratorError(
      'ERR_CHECKPOINT_MISMATCH',
      `cannot resume from \`${JSON.stringify(position)}\`: it is not the position of an event read from OpenSearch (it has no sort values)`,
    )
  }
  return position.sort as OpenSearchCursor
}

function parseSlice(value: string | undefined): { id: number; max: number } | undefined {
  if (value === undefined) return undefined
  const m = /^(\d+)\/(\d+)$/.exec(value)
  if (!m) throw new HydratorError('ERR_INVALID_URI', `expected \`slice=<id>/<max>\` such as \`slice=0/4\`, got \`slice=${value}\``)
  return { id: Number(m[1]), max: Number(m[2]) }
}

async function openSearchSource(uri: ParsedUri, context: FactoryContext): Promise<Source> {
  const target = targetOf(uri, context.env)
  const index = param(uri, 'index') ?? target.pathIndex
  if (!index) throw new HydratorError('ERR_USAGE', `\`${target.display}\` names no index: put it in the path (\`.../events\`) or add \`?index=events\``)
  const sort = parseSortParam(param(uri, 'sort'), uri)
  const query = jsonParam(uri, 'query', 'an OpenSearch query object')
  const after = jsonParam(uri, 'after', 'an array of sort values')
  const maxFailures = context.flags.maxFailures
  const slices = intParam(uri, 'slices')
  const pageSize = intParam(uri, 'page-size', 'pageSize', 'size')
  const keepAlive = param(uri, 'keep-alive', 'keepAlive')
  let slice = parseSlice(param(uri, 'slice'))
  if (context.share) {
    if (slice) throw new HydratorError('ERR_INVALID_URI', `\`slice=\` in \`${target.display}\` and --share both choose a slice: use one of them`)
    const part = (context.share.part as { slice?: { id?: unknown; max?: unknown } }).slice
    if (!part || !Number.isInteger(part.id) || !Number.isInteger(part.max)) {
      throw new HydratorError('ERR_SHARE_MISMATCH', '--share: not a share of an OpenSearch index (expected { slice: { id, max } } in its part)')
    }
    slice = { id: part.id as number, max: part.max as number }
  }
  const options = {
    index,
    sort,
    uri: target.display,
    ...(query !== undefined ? { query: query as Record<string, unknown> } : {}),
    // A checkpoint's position (its sort values) goes on from further on than `after=`.
    ...(context.resume ? { resumeAfter: resumeSort(context.resume) } : after !== undefined ? { resumeAfter: after as OpenSearchCursor } : {}),
    ...(pageSize !== undefined ? { pageSize } : {}),
    ...(keepAlive !== undefined ? { keepAlive } : {}),
    ...(slices !== undefined ? { slices } : {}),
    ...(slice !== undefined ? { slice } : {}),
    ...(context.retry ? { retry: context.retry } : {}),
    ...(typeof maxFailures === 'number' && Number.isFinite(maxFailures) ? { maxFailures } : {}),
  }
  // Building a client does no I/O: the options are still checked before anything is sent.
  return searchOpenSearch({ ...options, client: await clientOf(uri, target, context) })
}

async function openSearchSink(uri: ParsedUri, context: FactoryContext): Promise<Sink> {
  const target = targetOf(uri, context.env)
  const index = param(uri, 'index') ?? target.pathIndex ?? context.table
  if (!index) {
    throw new HydratorError('ERR_USAGE', `\`${target.display}\` names no index: put it in the path (\`.../users\`), add \`?index=users\` or pass --table users`)
  }
  const idPath = param(uri, 'id')
  const versionPath = param(uri, 'version')
  const deleteWhen = jsonParam(uri, 'delete-when', 'an EventBridge pattern') as Mapping['deleteWhen']
  if (context.mapping && (idPath !== undefined || versionPath !== undefined || deleteWhen !== undefined)) {
    throw new HydratorError('ERR_USAGE', 'give either --column/--key or `?id=`/`version=`/`delete-when=`, not both')
  }
  const maxBatchBytes = intParam(uri, 'max-batch-bytes', 'maxBatchBytes')
  const createIndex = param(uri, 'create') === 'true'
  const refresh = param(uri, 'refresh') === 'true'
  const options = {
    index,
    uri: target.display,
    ...(context.mapping
      ? { mapping: context.mapping }
      : // Without ?id= the _id is the event's `id`, the document the whole event.
        { ...(idPath !== undefined ? { idPath } : {}), ...(versionPath !== undefined ? { versionPath } : {}), ...(deleteWhen !== undefined ? { deleteWhen } : {}) }),
    ...(context.batchSize !== undefined ? { batchSize: context.batchSize } : {}),
    ...(context.concurrency !== undefined ? { concurrency: context.concurrency } : {}),
    ...(maxBatchBytes !== undefined ? { maxBatchBytes } : {}),
    ...(context.retry ? { retry: context.retry } : {}),
    ...(createIndex ? { createIndex } : {}),
    ...(refresh ? { refresh } : {}),
    ...(context.flags.rebuild ? { rebuild: context.flags.rebuild as RebuildOptions | boolean } : {}),
  }
  return toOpenSearch({ ...options, client: await clientOf(uri, target, context) })
}

/**
 * The OpenSearch schemes `opensearch:`, `opensearch+http:` and `opensearch+https:`, as source and sink.
 * Source: `opensearch:http://localhost:9200/events?sort=time,id` with `query=<json>`, `slices=4`,
 * `slice=0/4`, `page-size=1000`, `keep-alive=2m`, `after=<json sort values>`. Sink: the whole event
 * as the document with the event's `id` as `_id`, or
 * `opensearch:http://localhost:9200/users?id=detail.id&version=detail.version`, or with
 * --column/--key/--version-column/--delete-when; `create=true` creates a missing index,
 * `refresh=true` refreshes it at the end, `max-batch-bytes=`. The index is the path, `?index=`, or
 * (sinks) --table. Credentials: `http://user:pass@host` or OPENSEARCH_USERNAME / OPENSEARCH_PASSWORD;
 * `aws=es` (or `aoss`) signs with SigV4, region from `region=` or AWS_REGION, keys from the
 * environment or the AWS SDK's default chain. `insecure=true` accepts a self-signed certificate. The
 * report shows the URI with the password as `***`. The client library loads only when used.
 *
 * @example
 * hydrate --source 'opensearch:http://localhost:9200/events?sort=time,id&slices=4' \
 *   --sink 'opensearch:http://localhost:9200/users?id=detail.userId&version=detail.version'
 */
/**
 * An index split `count` ways: sliced scrolls of one point in time each (slice i of `count`, by
 * document _id): every document is in exactly one share.
 */
async function openSearchShares(uri: ParsedUri, count: number, context: FactoryContext) {
  const target = targetOf(uri, context.env)
  if (param(uri, 'slice') !== undefined) throw new HydratorError('ERR_SHARES_UNSUPPORTED', `\`${target.display}\` has \`slice=\`: shares choose the slices; remove it`)
  return Array.from({ length: count }, (_, id) => ({ slice: { id, max: count } }))
}

export const openSearchPlugin: Plugin = {
  name: 'opensearch',
  sources: { opensearch: openSearchSource, 'opensearch+http': openSearchSource, 'opensearch+https': openSearchSource },
  sinks: { opensearch: openSearchSink, 'opensearch+http': openSearchSink, 'opensearch+https': openSearchSink },
  shares: { opensearch: openSearchShares, 'opensearch+http': openSearchShares, 'opensearch+https': openSearchShares },
}
