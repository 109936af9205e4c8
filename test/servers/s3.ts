// An S3 server for the tests: @20minutes/s3rver (a maintained fork of s3rver, files in a temporary
// folder), in this process on 127.0.0.1, behind a thin HTTP proxy. The tests talk to the proxy.
//
// Why the proxy: s3rver 5.0.0 ignores S3's conditional writes. A PutObject with If-None-Match: *
// over an existing key, or with an If-Match that names another ETag, is stored and answered 200,
// and a DeleteObject with a wrong If-Match deletes (checked against it with @aws-sdk/client-s3
// 3.1178). S3 answers those with 412 PreconditionFailed (and an If-Match on a missing key with 404
// NoSuchKey), and the checkpoint store's compare-and-set is built on exactly that.
//
// What the proxy adds, and nothing else:
// - for a PUT (not a copy) with If-None-Match: * or If-Match, and a DELETE with If-Match: a HEAD of
//   the object on s3rver first, and when the condition fails, S3's answer instead of forwarding:
//   412 `<Error><Code>PreconditionFailed</Code>...`, or 404 NoSuchKey for If-Match on no object;
// - every request on one object key (GET, HEAD, PUT, DELETE) runs alone, one after another, so the
//   check and the write are one atomic step, and a read never sees s3rver's write half done (it
//   writes the content, then the metadata holding the ETag);
// - `denyBucket(name)`: every request on that bucket is answered 403 AccessDenied, as S3 answers a
//   caller whose IAM policy lacks the action;
// - `dropNextResponse(method)`: the next request of that method on an object is applied on s3rver,
//   then the client's connection is dropped without an answer ("did it happen?");
// - `failNext(method, status, code, times)`: the next `times` requests of that method on an object
//   are answered with S3's error (503 SlowDown, 500 InternalError) and not applied.
// Requests are forwarded byte for byte, headers included, so s3rver still checks every SigV4
// signature. One exception: the SDK sends bucket-level requests (ListObjectsV2, HeadBucket) as
// `/bucket/`, which s3rver signs as `/bucket` and so refuses (SignatureDoesNotMatch). The proxy checks
// such a request's signature itself (as S3 would, over `/bucket/`), then sends it on as `/bucket`
// signed again with the same key and date; a request whose signature does not hold is forwarded as
// it came, and s3rver refuses it.
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import crypto from 'node:crypto'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createHash, createHmac } from 'node:crypto'
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { SignatureV4 } from '@smithy/signature-v4'
import { listenLocal } from './listen.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

const require = createRequire(import.meta.url)

{
  const double = (b: crypto.BinaryLike) => Buffer.concat([Buffer.from(b as Buffer), Buffer.from(b as Buffer)])
  const patched = crypto as unknown as Record<'createCipheriv' | 'createDecipheriv', (...args: unknown[]) => unknown> & { desPatched?: boolean }
  if (!patched.desPatched) {
    for (const name of ['createCipheriv', 'createDecipheriv'] as const) {
      const original = patched[name].bind(crypto)
      patched[name] = (algorithm, key, iv, ...rest) =>
        algorithm === 'des' ? original('aes-128-cbc', double(key as Buffer), double(iv as Buffer), ...rest) : original(algorithm, key, iv, ...rest)
    }
    patched.desPatched = true
  }
}

interface S3rver {
  callback(): (req: IncomingMessage, res: ServerResponse) => void
  readonly store: { putBucket(name: string): Promise<unknown> }
  readonly logger: { close(): void }
}
const S3rverClass = require('@20minutes/s3rver') as new (options: Record<string, unknown>) => S3rver

/** The key pair s3rver knows (its built-in account). */
export const S3_TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const

/** s3rver behind the conditional-write proxy; see the top of test/servers/s3.ts. */
export interface S3TestServer {
  /** The proxy, `http://127.0.0.1:<port>`: what clients use. */
  readonly endpoint: string
  /** A client of the proxy: path-style, region us-east-1, s3rver's credentials; destroyed by `close()`. */
  client(options?: { maxAttempts?: number }): S3Client
  /** Creates a bucket (straight in s3rver's store). */
  createBucket(name: string): Promise<void>
  /** From now on, every request on `name` is answered 403 AccessDenied. */
  denyBucket(name: string): void
  /** The next request with this method on an object is applied, then its connection dropped unanswered. */
  dropNextResponse(method: 'PUT' | 'DELETE'): void
  /** The next `times` requests with this method on an object are answered `status` `code` (503 SlowDown) and not applied. */
  failNext(method: 'GET' | 'PUT' | 'DELETE', status: number, code: string, times?: number): void
  /** The object as s3rver holds it now, or undefined. */
  getObject(bucket: string, key: string): Promise<{ text: string; etag: string } | undefined>
  /** Stops proxy and s3rver, destroys the clients, removes the folder. */
  close(): Promise<void>
}

const xmlEscape = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)

function answerError(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><Resource>${xmlEscape(req.url ?? '')}</Resource><RequestId>s3-test-proxy</RequestId></Error>`
  // S3 reads the whole request before it answers; so does this, or the client could see EPIPE.
  req.resume()
  req.once('end', () => {
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': 's3-test-proxy' })
    res.end(req.method === 'HEAD' ? undefined : body)
  })
}

const bytesOf = (data: string | ArrayBuffer | ArrayBufferView) =>
  typeof data === 'string' ? data : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data)

class Sha256 {
  readonly #hash
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret))
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytesOf(data))
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest())
  }
}

const signer = new SignatureV4({ credentials: S3_TEST_CREDENTIALS, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: false })

/** A bucket-level request (`/bucket/`, no body) whose signature holds, re-signed for `/bucket`; undefined otherwise. */
async function resignedForBucket(req: IncomingMessage, url: URL, bucket: string): Promise<Record<string, string> | undefined> {
  const auth = req.headers.authorization ?? ''
  const m = /Credential=([^/]+)\/\d{8}\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)/.exec(auth)
  const date = req.headers['x-amz-date']
  if (!m || m[1] !== S3_TEST_CREDENTIALS.accessKeyId || typeof date !== 'string') return undefined
  const signed = m[3]!.split(';')
  const headers: Record<string, string> = {}
  for (const name of signed) headers[name] = String(req.headers[name] ?? '')
  const query: Record<string, string> = {}
  for (const [k, v] of url.searchParams) query[k] = v
  const signingDate = new Date(date.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'))
  const sign = async (path: string) => {
    const out = await signer.sign({ method: req.method ?? 'GET', protocol: 'http:', hostname: '127.0.0.1', path, query, headers: { ...headers } } as never, { signingDate, signingRegion: m[2] })
    return (out as unknown as { headers: Record<string, string> }).headers
  }
  const again = await sign(`/${bucket}/`)
  if (!again.authorization?.endsWith(`Signature=${m[4]}`)) return undefined
  return sign(`/${bucket}`)
}

const unquote = (etag: string) => etag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1')

/**
 * Starts s3rver in a temporary folder and the proxy in front of it, both on free 127.0.0.1 ports.
 *
 * @example
 * const s3 = await startS3TestServer()
 * await s3.createBucket('state')
 * const store = s3CheckpointStore({ client: s3.client(), bucket: 'state', key: 'run.json' })
 * await s3.close()
 */
export async function startS3TestServer(): Promise<S3TestServer> {
  const directory = await mkdtemp(path.join(tmpdir(), 'eh-s3rver-'))
  const s3rver = new S3rverClass({ directory, silent: true, resetOnClose: false })
  const backend = await listenLocal(createServer(s3rver.callback()))
  const agent = new Agent({ keepAlive: true })
  const denied = new Set<string>()
  const drops = new Set<string>()
  const failures = new Map<string, { status: number; code: string; times: number }>()
  const clients: S3Client[] = []

  // One request per object key at a time: each waits for the one before it to be answered.
  const tails = new Map<string, Promise<void>>()
  const exclusive = async (key: string, fn: () => Promise<void>) => {
    const before = tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const tail = before.then(() => new Promise<void>((resolve) => (release = resolve)))
    tails.set(key, tail)
    await before
    try {
      await fn()
    } finally {
      release()
      if (tails.get(key) === tail) tails.delete(key)
    }
  }

  const head = (urlPath: string) =>
    new Promise<{ status: number; etag?: string }>((resolve, reject) => {
      const r = httpRequest({ host: '127.0.0.1', port: backend.port, method: 'HEAD', path: urlPath, agent }, (res) => {
        res.resume()
        const etag = res.headers.etag
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(etag ? { etag } : {}) }))
      })
      r.on('error', reject)
      r.end()
    })

  const forward = (req: IncomingMessage, res: ServerResponse, drop: boolean) =>
    new Promise<void>((resolve) => {
      // A client that gives up (an aborted GET) closes the answer early: the key is free again then.
      res.once('close', () => resolve())
      const up = httpRequest(
        { host: '127.0.0.1', port: backend.port, method: req.method, path: req.url, headers: req.headers, agent },
        (upRes) => {
          if (drop) {
            upRes.resume()
            upRes.on('end', () => {
              req.socket.destroy()
              resolve()
            })
            return
          }
          res.writeHead(upRes.statusCode ?? 502, upRes.headers)
          upRes.pipe(res)
          res.on('close', () => resolve())
        },
      )
      up.on('error', () => {
        if (!res.headersSent) res.writeHead(502).end()
        else res.destroy()
        resolve()
      })
      req.pipe(up)
    })

  // The answer S3 gives when a condition of the request fails, or undefined when it holds.
  const failedCondition = async (req: IncomingMessage, bucket: string, objectPath: string) => {
    const ifMatch = req.headers['if-match']
    const ifNoneMatch = req.headers['if-none-match']
    const conditional =
      (req.method === 'PUT' && !req.headers['x-amz-copy-source'] && (ifMatch !== undefined || ifNoneMatch !== undefined)) ||
      (req.method === 'DELETE' && ifMatch !== undefined)
    if (!conditional) return undefined
    const current = await head(objectPath)
    // No bucket: s3rver's own answer (NoSuchBucket) is the right one.
    if (current.status === 404 && (await head(`/${bucket}`)).status === 404) return undefined
    const exists = current.status === 200
    if (ifNoneMatch !== undefined && ifNoneMatch.trim() === '*' && exists) return { status: 412, code: 'PreconditionFailed', condition: 'If-None-Match' }
    if (ifMatch !== undefined) {
      if (!exists) return { status: 404, code: 'NoSuchKey', condition: 'If-Match' }
      if (ifMatch.trim() !== '*' && unquote(ifMatch) !== unquote(current.etag ?? '')) return { status: 412, code: 'PreconditionFailed', condition: 'If-Match' }
    }
    return undefined
  }

  const proxy = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy')
    const [, bucket = '', ...rest] = url.pathname.split('/')
    const key = decodeURIComponent(rest.join('/'))
    if (denied.has(bucket)) return answerError(req, res, 403, 'AccessDenied', 'Access Denied')
    if (bucket && !key && url.pathname === `/${bucket}/` && (req.method === 'GET' || req.method === 'HEAD')) {
      void resignedForBucket(req, url, bucket).then(
        (headers) => {
          if (headers) {
            req.url = `/${bucket}${url.search}`
            req.headers.authorization = headers.authorization!
          }
          return forward(req, res, false)
        },
        () => forward(req, res, false),
      )
      return
    }
    if (!bucket || !key) return void forward(req, res, false)
    const failure = failures.get(req.method ?? '')
    if (failure) {
      if (--failure.times <= 0) failures.delete(req.method ?? '')
      return answerError(req, res, failure.status, failure.code, `injected ${failure.code}`)
    }
    void exclusive(`${bucket}/${key}`, async () => {
      const failed = await failedCondition(req, bucket, url.pathname)
      if (failed) {
        const message = failed.code === 'NoSuchKey' ? 'The specified key does not exist.' : 'At least one of the pre-conditions you specified did not hold'
        await new Promise<void>((resolve) => {
          res.once('close', () => resolve())
          answerError(req, res, failed.status, failed.code, message)
        })
        return
      }
      const drop = drops.delete(req.method ?? '')
      await forward(req, res, drop)
    }).catch(() => {
      if (!res.headersSent) res.writeHead(502).end()
    })
  })
  const front = await listenLocal(proxy)

  const own = new S3Client({ endpoint: front.url, region: 'us-east-1', forcePathStyle: true, credentials: S3_TEST_CREDENTIALS })
  clients.push(own)
  return {
    endpoint: front.url,
    client(options = {}) {
      const client = new S3Client({
        endpoint: front.url,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: S3_TEST_CREDENTIALS,
        ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
      })
      clients.push(client)
      return client
    },
    async createBucket(name) {
      // Not through the SDK: it sends CreateBucket as `PUT /name/`, and s3rver signs the path
      // without the trailing slash, so the signatures disagree.
      await s3rver.store.putBucket(name)
    },
    denyBucket(name) {
      denied.add(name)
    },
    dropNextResponse(method) {
      drops.add(method)
    },
    failNext(method, status, code, times = 1) {
      failures.set(method, { status, code, times })
    },
    async getObject(bucket, key) {
      try {
        const out = await own.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
        return { text: await out.Body!.transformToString(), etag: out.ETag! }
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') return undefined
        throw error
      }
    },
    async close() {
      for (const client of clients) client.destroy()
      await front.close()
      agent.destroy()
      await backend.close()
      s3rver.logger.close()
      await rm(directory, { recursive: true, force: true })
    },
  }
}
