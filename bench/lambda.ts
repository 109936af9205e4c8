// npx tsx bench/lambda.ts [--events N]
// toLambda against a bare loop of InvokeCommand calls with the same client and concurrency, on the
// local Lambda test server (test/servers/lambda-server.ts) in this process, in the same run:
//   1. concurrency 1 (the default: one invocation at a time, in source order);
//   2. concurrency 16 with an order key over 1,000 aggregates in random order (the bare workers keep
//      no order at all, so they are an upper bound);
//   3. a source where each aggregate's events come together (as a DynamoDB query or per-aggregate
//      files give them), with a 1 ms handler: ordered lanes against defineSink's own per-key
//      blocking (batchSize 1 + keyOf), the alternative the design had to beat.
// Each measurement is the best of two, the sides alternating. The server runs the handler
// in-process, so the ratios say what event-hydrator adds on top of the HTTP round trips, not what
// Lambda can do.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda'
import { setTimeout as sleep } from 'node:timers/promises'
import { defineSink } from '../lib/define-sink.js'
import { buildInvokeInput, readInvokeOutput, toLambda } from '../lib/lambda/lambda.js'
import { startLambdaServer } from '../test/servers/lambda-server.js'
import { makeEvent, rng } from './generate.js'
import { eventsArg, isMain, printRows, type BenchRow } from './common.js'

const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' }

/** Runs the Lambda scenarios with `events` invocations (default 20,000). */
export async function benchLambda({ events = 20_000 }: { events?: number } = {}): Promise<BenchRow[]> {
  let handled = 0
  const server = await startLambdaServer({
    functions: {
      noop: async () => {
        handled++
        return { ok: true }
      },
      slow: async () => {
        handled++
        await sleep(1)
        return { ok: true }
      },
    },
  })
  const client = new LambdaClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 })
  const rows: BenchRow[] = []
  const random = rng(7)
  const data = Array.from({ length: events }, (_, i) => makeEvent(i, random))
  async function* source<T>(items: readonly T[]) {
    yield* items
  }

  /** The baseline: `concurrency` workers taking the next event and invoking it, no order kept. */
  const bare = async (fn: string, items: readonly Record<string, unknown>[], concurrency: number) => {
    let next = 0
    let ok = 0
    const worker = async () => {
      while (next < items.length) {
        const e = items[next++]!
        const out = await client.send(new InvokeCommand(buildInvokeInput(fn, undefined, JSON.stringify(e))))
        if (readInvokeOutput(out).ok) ok++
      }
    }
    const t = performance.now()
    await Promise.all(Array.from({ length: concurrency }, worker))
    const ms = performance.now() - t
    if (ok !== items.length) throw new Error(`bare loop invoked ${ok} of ${items.length}`)
    return ms
  }

  const ours = async (items: readonly Record<string, unknown>[], options: Omit<Parameters<typeof toLambda>[0], 'client'>) => {
    const t = performance.now()
    const result = await toLambda({ client, ...options })(source(items))
    const ms = performance.now() - t
    if (result.written !== items.length) throw new Error(`toLambda wrote ${result.written} of ${items.length}`)
    return ms
  }

  try {
    // Warm up connections and JIT on both paths.
    await bare('noop', data.slice(0, 500), 16)
    await ours(data.slice(0, 500), { functionName: 'noop', concurrency: 16 })

    // Each side twice, in alternating order, keeping the best: the machine may be shared.
    const pair = async (bareRun: () => Promise<number>, oursRun: () => Promise<number>) => {
      const b1 = await bareRun()
      const o1 = await oursRun()
      const o2 = await oursRun()
      const b2 = await bareRun()
      return [Math.min(b1, b2), Math.min(o1, o2)] as const
    }

    let [b, o] = await pair(() => bare('noop', data, 1), () => ours(data, { functionName: 'noop' }))
    rows.push({
      scenario: `${events.toLocaleString()} invocations, concurrency 1: toLambda vs a bare InvokeCommand loop`,
      baselineMs: b,
      ours: o,
      ratio: o / b,
      notes: 'source order kept on both sides',
    })

    ;[b, o] = await pair(
      () => bare('noop', data, 16),
      () => ours(data, { functionName: 'noop', concurrency: 16, orderKey: 'detail.aggregateId' }),
    )
    rows.push({
      scenario: `${events.toLocaleString()} invocations, concurrency 16, orderKey over 1,000 aggregates: toLambda vs 16 bare workers`,
      baselineMs: b,
      ours: o,
      ratio: o / b,
      notes: 'the bare workers keep no per-key order',
    })

    // Contiguous keys: 25 events per aggregate, one aggregate after another; a 1 ms handler.
    const contiguousCount = Math.max(400, Math.floor(events / 4))
    const contiguous = Array.from({ length: contiguousCount }, (_, i) => {
      const e = data[i % data.length]!
      return { ...e, detail: { ...(e.detail as object), aggregateId: `agg-${Math.floor(i / 25)}` } }
    })
    ;[b, o] = await pair(
      () => bare('slow', contiguous, 16),
      () => ours(contiguous, { functionName: 'slow', concurrency: 16, orderKey: 'detail.aggregateId', maxBuffered: 256 }),
    )
    rows.push({
      scenario: `${contiguousCount.toLocaleString()} invocations of a 1 ms handler, concurrency 16, 25 events per aggregate in a row: toLambda (ordered lanes, maxBuffered 256) vs 16 bare workers`,
      baselineMs: b,
      ours: o,
      ratio: o / b,
      notes: 'the bare workers keep no per-key order',
    })

    // The alternative: defineSink's own per-key blocking, one event per batch.
    const blocking = defineSink<Record<string, unknown>, Record<string, unknown>>(
      {
        uri: 'lambda:slow',
        keyOf: (e) => String((e.detail as { aggregateId: string }).aggregateId),
        async write(batch) {
          return Promise.all(
            batch.map(async (e) => {
              const out = await client.send(new InvokeCommand(buildInvokeInput('slow', undefined, JSON.stringify(e))))
              return { status: readInvokeOutput(out).ok ? ('written' as const) : ('failed' as const) }
            }),
          )
        },
      },
      { batchSize: 1, concurrency: 16 },
    )
    let blockingMs = Infinity
    for (let run = 0; run < 2; run++) {
      const t = performance.now()
      const r = await blocking(source(contiguous))
      blockingMs = Math.min(blockingMs, performance.now() - t)
      if (r.written !== contiguousCount) throw new Error(`defineSink keyOf wrote ${r.written}`)
    }
    rows.push({
      scenario: `same, defineSink keyOf (batchSize 1, concurrency 16) vs 16 bare workers`,
      baselineMs: b,
      ours: blockingMs,
      ratio: blockingMs / b,
      notes: 'a waiting event blocks the ones behind it: the design toLambda does not use',
    })
  } finally {
    client.destroy()
    await server.close()
  }
  if (handled === 0) throw new Error('nothing was invoked')
  return rows
}

if (isMain(import.meta.url)) printRows(await benchLambda({ events: eventsArg(20_000) }))
