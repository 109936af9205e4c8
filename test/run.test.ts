import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { pipe } from 'it-pipe'
import { HydratorError } from '../lib/errors.js'
import type { RunReport } from '../lib/report/report.js'
import { run } from '../lib/run.js'
import { collect } from '../lib/collect.js'
import { defineSink } from '../lib/define-sink.js'
import { toJsonLines } from '../lib/json/write-lines.js'
import { readJsonLines } from '../lib/json/read-lines.js'
import { batch } from '../lib/stages/batch.js'
import { filter } from '../lib/stages/filter.js'
import { map } from '../lib/stages/map.js'
import { take } from '../lib/stages/take.js'
import { at, captured, events, ndjson, tempDir, tracked } from './helpers.js'

const test = suite('run() and its report')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir()
})
test.after(async () => {
  await tmp.cleanup()
})

/** The arithmetic every report must satisfy, on every path. */
function addsUp(report: RunReport, { fanOut = false } = {}) {
  assert.is(report.source.read, report.filter.matched + report.filter.unmatched, 'read = matched + unmatched')
  if (!fanOut) {
    assert.is(report.filter.matched, report.sink.written + report.sink.skipped + report.sink.failed, 'matched = written + skipped + failed')
  }
  assert.is(report.failures.count, report.source.failed + report.sink.failed, 'failures = source + sink failures')
  assert.ok(report.failures.samples.length <= 100)
  JSON.parse(JSON.stringify(report))
}

/** A sink that rejects events whose detail.version is in `reject`, and skips those in `skip`. */
function pickySink(reject: Set<number>, skip = new Set<number>(), { failBatchAt }: { failBatchAt?: number } = {}) {
  let batches = 0
  return defineSink<Record<string, any>>(
    {
      uri: 'picky:',
      async write(batch) {
        if (failBatchAt !== undefined && batches++ === failBatchAt) throw new Error('connection lost')
        return batch.map((e) =>
          reject.has(e.detail.version)
            ? { status: 'failed' as const, code: 'ERR_WRITE_REJECTED', message: 'nope', key: e.id }
            : skip.has(e.detail.version)
              ? { status: 'skipped' as const }
              : { status: 'written' as const },
        )
      },
    },
    { batchSize: 4 },
  )
}

test('an ok run: counts, stages and status', async () => {
  const file = await tmp.file('ok.ndjson', ndjson(events(30)))
  const out = captured()
  const report = await run({
    source: readJsonLines(file),
    stages: [filter((e: any) => e.source === 'orders')],
    sink: toJsonLines('-', { stdout: out }),
  })
  assert.is(report.status, 'ok')
  assert.is(report.source.read, 30)
  assert.is(report.filter.matched, 10)
  assert.is(report.filter.unmatched, 20)
  assert.is(report.sink.written, 10)
  assert.equal(report.stages.map((s) => [s.name, s.in, s.out]), [['filterStage', 30, 10]])
  assert.is(out.text().trim().split('\n').length, 10)
  addsUp(report)
})

test('unreadable lines and rejected events make a partial run that still adds up', async () => {
  const file = await tmp.file('partial.ndjson', ndjson(events(12)) + 'garbage\n')
  const report = await run({ source: readJsonLines(file), sink: pickySink(new Set([3, 7]), new Set([5])) })
  assert.is(report.status, 'partial')
  assert.is(report.source.failed, 1)
  assert.is(report.sink.failed, 2)
  assert.is(report.sink.skipped, 1)
  assert.is(report.sink.written, 9)
  assert.equal(report.failures.samples.map((f) => f.code), ['ERR_INVALID_JSON', 'ERR_WRITE_REJECTED', 'ERR_WRITE_REJECTED'])
  assert.is(at(report.failures.samples[1]!.position)?.line, 4)
  assert.is(report.failures.samples[1]!.key, 'e3')
  addsUp(report)
})

test('maxFailures stops the run with status failed, and it still adds up', async () => {
  const file = await tmp.file('many.ndjson', ndjson(events(200)))
  const reject = new Set(Array.from({ length: 200 }, (_, i) => i))
  const report = await run({ source: readJsonLines(file), sink: pickySink(reject), maxFailures: 5 })
  assert.is(report.status, 'failed')
  assert.is(report.error?.code, 'ERR_TOO_MANY_FAILURES')
  assert.ok(report.source.read < 200, `stopped early (read ${report.source.read})`)
  addsUp(report)
})

test('a batch that throws fails its events; the run goes on and says partial', async () => {
  const report = await run({ source: tracked(events(12)).source, sink: pickySink(new Set(), new Set(), { failBatchAt: 1 }) })
  assert.is(report.status, 'partial')
  assert.is(report.sink.failed, 4)
  assert.is(report.sink.written, 8)
  assert.is(report.failures.samples[0]!.message, 'connection lost')
  addsUp(report)
})

test('an abort while a write waits for its retry lets the write finish: it is written, not failed', async () => {
  const controller = new AbortController()
  let attempts = 0
  const slow = defineSink<Record<string, any>>(
    {
      uri: 'flaky:',
      async write(batch, context) {
        assert.is(context.signal, undefined, 'a write never gets the stop signal')
        // The first attempt of the first batch fails and is retried after a pause; the stop comes then.
        if (attempts++ === 0) {
          controller.abort()
          await new Promise((r) => setTimeout(r, 50))
        }
        return batch.map(() => ({ status: 'written' as const }))
      },
    },
    { batchSize: 4 },
  )
  const report = await run({ source: tracked(events(40)).source, sink: slow, signal: controller.signal })
  assert.is(report.status, 'aborted')
  assert.is(report.sink.failed, 0)
  assert.ok(report.sink.written >= 4)
  addsUp(report)
})

test('a map with onError fail counts a throwing event as failed (ERR_TRANSFORM), not as unmatched', async () => {
  const file = await tmp.file('map-fail.ndjson', ndjson(events(10)))
  const letters: unknown[] = []
  const report = await run({
    source: readJsonLines(file),
    stages: [
      map(
        (e: any) => {
          if (e.detail.version === 4) throw new Error('no version 4')
          return e
        },
        { onError: 'fail', name: 'transform' },
      ),
    ],
    sink: collect(),
    deadLetter: { write: async (_failure, event) => void letters.push(event) },
  })
  assert.is(report.status, 'partial')
  assert.is(report.sink.written, 9)
  assert.is(report.sink.failed, 1)
  assert.is(report.filter.unmatched, 0)
  assert.equal(report.stages[0], { name: 'mapStage', kind: 'map', in: 10, out: 9, failed: 1 })
  assert.is(report.failures.samples[0]!.code, 'ERR_TRANSFORM')
  assert.is(at(report.failures.samples[0]!.position)?.line, 5)
  assert.is((letters[0] as any).id, 'e4')
  addsUp(report)
  // In a bare pipe() nothing could report the failure: it still throws.
  const thrown = await pipe(
    readJsonLines(file),
    map((e: any) => {
      if (e.detail.version === 4) throw new Error('boom')
      return e
    }, { onError: 'fail' }),
    collect(),
  ).then(
    () => undefined,
    (error: Error) => error,
  )
  assert.is(thrown?.message, 'boom')
})

test('after an early failure, the report names the sink by its URI', async () => {
  const { LambdaClient } = await import('@aws-sdk/client-lambda')
  const { EventBridgeClient } = await import('@aws-sdk/client-eventbridge')
  const { toLambda } = await import('../lib/lambda/index.js')
  const { toEventBridge } = await import('../lib/eventbridge/index.js')
  const options = { region: 'us-east-1', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }
  const broken = async function* () {
    yield* []
    throw new Error('the source broke')
  }
  const sinks = [
    [toLambda({ client: new LambdaClient(options), functionName: 'projector', checkFunction: false }), 'lambda:projector'],
    [toEventBridge({ client: new EventBridgeClient(options), eventBusName: 'bus', checkBus: false }), 'eventbridge:bus'],
    [pickySink(new Set()), 'picky:'],
  ] as const
  for (const [sink, uri] of sinks) {
    const report = await run({ source: broken(), sink })
    assert.is(report.status, 'failed')
    assert.is(report.sink.uri, uri)
  }
})

test('an abort signal stops reading, finishes what was read, and reports aborted', async () => {
  const controller = new AbortController()
  const { source, state } = tracked(events(1000))
  const report = await run({
    source,
    stages: [map((e: any) => {
      if (e.detail.version === 10) controller.abort()
      return e
    })],
    sink: pickySink(new Set()),
    signal: controller.signal,
  })
  assert.is(report.status, 'aborted')
  assert.ok(state.closed)
  assert.ok(report.source.read < 1000)
  addsUp(report)
})

test('a source error mid-run is status failed with the error, and what was read is accounted for', async () => {
  const report = await run({ source: tracked(events(10), { failAt: 6 }).source, stages: [batch(4), map((b: any) => b)], sink: pickySink(new Set()) as any })
  assert.is(report.status, 'failed')
  assert.match(report.error!.message, /upstream failed/)
  assert.is(report.source.read, 6)
  addsUp(report, { fanOut: true })
})

test('events lost between the filter and the sink are reported as not handled', async () => {
  const { source } = tracked(events(10))
  const report = await run({
    source,
    stages: [
      batch(3),
      async function* explode(input: AsyncIterable<unknown[]>) {
        for await (const b of input) {
          yield* b
          if (b.length) throw new Error('stage blew up')
        }
      },
    ],
    sink: pickySink(new Set()),
  })
  assert.is(report.status, 'failed')
  assert.ok(report.failures.samples.some((f) => f.code === 'ERR_NOT_HANDLED'))
  addsUp(report)
})

test('a dry run reads and filters for real, writes nothing, previews', async () => {
  const file = await tmp.file('dry.ndjson', ndjson(events(9)))
  const out = `${tmp.dir}/dry-out.ndjson`
  const report = await run({ source: readJsonLines(file), stages: [filter((e: any) => e.source === 'orders')], sink: toJsonLines(out), dryRun: true })
  assert.is(report.dryRun, true)
  assert.is(report.sink.written, 3)
  assert.is(report.sink.previews.length, 3)
  addsUp(report)
})

test('take stops reading and the counts still add up', async () => {
  const { source, state } = tracked(events(100))
  const report = await run({ source, stages: [filter((e: any) => e.source === 'orders'), take(5)], sink: collect() })
  assert.is(report.sink.written, 5)
  assert.ok(state.closed)
  assert.ok(state.pulled < 100)
  addsUp(report)
})

test('a fan-out map is counted per stage', async () => {
  const report = await run({ source: tracked(events(4)).source, stages: [map((e: any) => [e, e])], sink: collect() })
  assert.is(report.sink.written, 8)
  assert.equal(report.stages[0]!.out, 8)
  addsUp(report, { fanOut: true })
})

test('a configuration error before anything is read rejects', async () => {
  try {
    await run({ source: readJsonLines(`${tmp.dir}/missing.ndjson`), sink: collect() })
    assert.unreachable()
  } catch (error) {
    assert.ok(error instanceof HydratorError)
    assert.is((error as HydratorError).code, 'ERR_FILE_NOT_FOUND')
  }
})

test('failure samples are capped while the count is exact', async () => {
  const file = await tmp.file('caps.ndjson', 'x\n'.repeat(500) + ndjson(events(3)))
  const report = await run({ source: readJsonLines(file), sink: collect() })
  assert.is(report.failures.count, 500)
  assert.is(report.failures.samples.length, 100)
  addsUp(report)
})

test('the same chain works with a bare pipe(), where the sink result is the report', async () => {
  const result = await pipe(tracked(events(6)).source, filter((e: any) => e.source === 'orders'), collect())
  assert.is(result.written, 2)
  assert.is(result.received, 2)
})

test.run()
