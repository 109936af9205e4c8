import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import * as assert from 'uvu/assert'
import { HydratorError } from '../lib/errors.js'
import type { Position } from '../lib/position.js'
import type { FactoryContext } from '../lib/registry.js'
import type { SinkResult } from '../lib/types.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

/** A fresh temporary folder; `cleanup()` removes it. */
export async function tempDir(prefix = 'eh-'): Promise<{ dir: string; file: (name: string, content?: string | Buffer) => Promise<string>; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix))
  return {
    dir,
    async file(name, content) {
      const full = path.join(dir, name)
      if (content !== undefined) {
        await import('node:fs/promises').then((fs) => fs.mkdir(path.dirname(full), { recursive: true }))
        await writeFile(full, content)
      }
      return full
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  }
}

/** An async iterable over values, recording whether its `finally` ran and how many were pulled. */
export function tracked<T>(values: Iterable<T>, { failAt }: { failAt?: number } = {}) {
  const state = { pulled: 0, finished: false, closed: false }
  async function* gen() {
    try {
      let i = 0
      for (const v of values) {
        if (failAt !== undefined && i === failAt) throw new Error(`upstream failed at ${i}`)
        state.pulled++
        i++
        yield v
      }
      state.finished = true
    } finally {
      state.closed = true
    }
  }
  return { source: gen(), state }
}

/** Collects an async iterable into an array. */
export async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const v of iterable) out.push(v)
  return out
}

/** A writable that keeps what was written, for CLI tests. */
export function captured(): PassThrough & { text: () => string; isTTY?: boolean } {
  const stream = new PassThrough() as PassThrough & { text: () => string; isTTY?: boolean }
  const chunks: Buffer[] = []
  stream.on('data', (c: Buffer) => chunks.push(c))
  stream.text = () => Buffer.concat(chunks).toString('utf8')
  return stream
}

export function readableOf(text: string): Readable {
  return Readable.from([Buffer.from(text)])
}

/** `n` small EventBridge-shaped events. */
export function events(n: number, f: (i: number) => Record<string, unknown> = () => ({})): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `e${i}`,
    source: i % 3 === 0 ? 'orders' : 'users',
    'detail-type': i % 3 === 0 ? 'OrderPlaced' : 'UserCreated',
    detail: { aggregateId: `a${i % 5}`, version: i },
    ...f(i),
  }))
}

export const ndjson = (items: unknown[]) => items.map((e) => JSON.stringify(e)).join('\n') + '\n'

/**
 * `n` complete EventBridge events (every envelope field), all `orders`/`OrderPlaced`, with
 * `detail.aggregateId` cycling through `keys` aggregates and `detail.seq` = i.
 */
export function orderEvents(
  n: number,
  { keys = 5, extra = () => ({}), resources = [] }: { keys?: number; extra?: (i: number) => Record<string, unknown>; resources?: string[] } = {},
) {
  return Array.from({ length: n }, (_, i) => ({
    version: '0',
    id: `e${i}`,
    'detail-type': 'OrderPlaced',
    source: 'orders',
    account: '123456789012',
    time: '2024-01-01T00:00:00Z',
    region: 'us-east-1',
    resources,
    detail: { aggregateId: `a${i % keys}`, seq: i, ...extra(i) },
  }))
}

/** The report's promise: every event a sink received is written, skipped or failed. */
export function assertCounts(result: SinkResult): void {
  assert.is(result.received, result.written + result.skipped + result.failed, 'received = written + skipped + failed')
}

/**
 * A plugin factory's context as the CLI makes it, for tests that build sinks and sources from URIs:
 * test AWS credentials, no flags; `closers` holds what the factory asked to run at the end.
 */
export function factoryContext(overrides: Partial<FactoryContext> = {}): FactoryContext & { closers: (() => unknown)[] } {
  const closers: (() => unknown)[] = []
  return {
    env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' },
    cwd: process.cwd(),
    flags: {},
    onClose: (fn) => closers.push(fn),
    closers,
    ...overrides,
  }
}

/** A position (of any kind) as a plain record, for assertions on its fields. */
export function at(position: Position | undefined): Record<string, any> | undefined {
  return position as Record<string, any> | undefined
}

/** Awaits a promise that must reject with a HydratorError of `code` (and a message matching `pattern`), and returns the error. */
export async function rejects(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<HydratorError> {
  try {
    await promise
  } catch (error) {
    assert.instance(error, HydratorError)
    assert.is((error as HydratorError).code, code, (error as Error).message)
    if (pattern) assert.match((error as Error).message, pattern)
    return error as HydratorError
  }
  return assert.unreachable(`expected a rejection with ${code}`) as never
}
