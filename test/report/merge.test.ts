import { setTimeout as sleep } from 'node:timers/promises'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HydratorError } from '../../lib/errors.js'
import { hydrate, type HydrateOptions } from '../../lib/hydrate.js'
import { formatReport } from '../../lib/report/format.js'
import { mergeReports } from '../../lib/report/merge.js'
import type { RunReport } from '../../lib/report/report.js'
import { reportProblems } from '../../lib/report/validate.js'
import { planId } from '../../lib/share.js'
import { events, ndjson, tempDir } from '../helpers.js'

const test = suite('merged reports: the shares of a split run as one report')

let tmp: Awaited<ReturnType<typeof tempDir>>
// Real runs of one job (orders only, a transform that refuses events marked `fail`) over parts of
// one input: a and b have failures (b also an unreadable line), c and d none.
let a: RunReport
let b: RunReport
let c: RunReport
let d: RunReport
// c.ndjson read again as one share in three invocations, each resumed from the share's checkpoint:
// stopped after 3 events (a time budget), resumed to the end, then once more with nothing left to do.
let first: RunReport
let second: RunReport
let third: RunReport

// The transform of every job: refuses marked events, and stops the run at its `stopAt`th event (a
// time budget running out) when a test sets one. hydrate() keys checkpoints by the transform's
// text, so every invocation of a share must pass this same function.
let stopAt = 0
let seen = 0
let controller = new AbortController()
function replay(event: Record<string, any>) {
  if (++seen === stopAt) controller.abort()
  if (event.detail?.fail) throw new Error(`refused ${String(event.id)}`)
  return event
}

const all = events(80, (i) => ({ detail: { aggregateId: `a${i % 5}`, version: i, ...(i === 3 || i === 24 ? { fail: true } : {}) } }))

async function job(file: string, options: Partial<HydrateOptions> = {}): Promise<RunReport> {
  seen = 0
  return hydrate({
    source: `json:${file}`,
    sink: `ndjson:${file}.out`,
    filter: { source: ['orders'] },
    transform: replay,
    deadLetter: `${file}.dead.ndjson`,
    cwd: tmp.dir,
    ...options,
  })
}

const plan3 = planId('json:events/', 3)
/** The report as hydrate() makes it for one share of a plan (it fills `share` in). */
const asShare = (report: RunReport, index: number, count = 3, plan = count === 3 ? plan3 : planId('json:events/', count)): RunReport => ({ ...report, share: { plan, index, count } })

function addsUp(report: RunReport): void {
  assert.equal(reportProblems(report), [], 'the merged report validates against the schema')
  assert.is(report.source.read, report.filter.matched + report.filter.unmatched, 'read = matched + unmatched')
  assert.ok(report.filter.prefiltered <= report.filter.unmatched, 'prefiltered lines are unmatched')
  assert.is(report.filter.matched, report.sink.written + report.sink.skipped + report.sink.failed, 'matched = written + skipped + failed')
  assert.is(report.failures.count, report.source.failed + report.sink.failed, 'failures = unreadable + failed in the sink')
  assert.is(report.durationMs, Date.parse(report.finishedAt) - Date.parse(report.startedAt))
  if (report.stages.length > 0) assert.is(report.stages[0]!.in, report.source.read - report.filter.prefiltered, 'the first stage took what was read and parsed')
}

function rejects(fn: () => unknown, code: string, message: RegExp): void {
  try {
    fn()
  } catch (error) {
    assert.instance(error, HydratorError)
    assert.is((error as HydratorError).code, code, (error as Error).message)
    assert.match((error as Error).message, message)
    return
  }
  assert.unreachable(`expected ${code}`)
}

test.before(async () => {
  tmp = await tempDir()
  await tmp.file('a.ndjson', ndjson(all.slice(0, 20)))
  await tmp.file('b.ndjson', ndjson(all.slice(20, 40)) + '{torn\n')
  await tmp.file('c.ndjson', ndjson(all.slice(40, 60)))
  await tmp.file('d.ndjson', ndjson(all.slice(60, 80)))
  a = await job('a.ndjson')
  b = await job('b.ndjson')
  c = await job('c.ndjson')
  d = await job('d.ndjson')
  assert.equal([a.status, b.status, c.status, d.status], ['partial', 'partial', 'ok', 'ok'])
  const share0 = { checkpoint: 'c.ckpt', batchSize: 1 }
  controller = new AbortController()
  stopAt = 3
  first = await job('c.ndjson', { ...share0, signal: controller.signal })
  stopAt = 0
  await sleep(5)
  second = await job('c.ndjson', share0)
  await sleep(5)
  third = await job('c.ndjson', share0)
  assert.equal([first.status, first.checkpoint?.complete, second.checkpoint?.complete, third.checkpoint?.alreadyComplete], ['aborted', false, true, true])
})
test.after(async () => {
  await tmp.cleanup()
})

test('adds up the shares: counts, stages, time span; still read = matched + unmatched and matched = written + skipped + failed', () => {
  const merged = mergeReports([asShare(a, 0), asShare(b, 1), asShare(c, 2)])
  addsUp(merged)
  const parts = [a, b, c]
  const sum = (f: (r: RunReport) => number) => parts.reduce((t, r) => t + f(r), 0)
  assert.is(merged.source.read, sum((r) => r.source.read))
  assert.is(merged.source.read, 60, 'every event of the three files')
  assert.ok(merged.filter.prefiltered > 0, 'the prefilter skipped lines in each share')
  assert.is(merged.filter.prefiltered, sum((r) => r.filter.prefiltered))
  assert.is(merged.sink.written, sum((r) => r.sink.written))
  assert.is(merged.sink.failed, 2, 'the two refused events')
  assert.is(merged.source.failed, 1, 'the torn line')
  assert.is(merged.failures.count, 3)
  assert.equal(
    merged.stages.map((s) => [s.name, s.kind, s.in, s.out, s.failed ?? 0]),
    a.stages.map((s, k) => [s.name, s.kind, sum((r) => r.stages[k]!.in), sum((r) => r.stages[k]!.out), sum((r) => r.stages[k]!.failed ?? 0)]),
  )
  assert.is(merged.startedAt, a.startedAt, 'from the first start')
  assert.is(merged.finishedAt, c.finishedAt, 'to the last finish')
  assert.is(merged.eventsPerSecond, merged.source.read / Math.max(merged.durationMs / 1000, 0.001))
  for (const file of ['a.ndjson', 'b.ndjson', 'c.ndjson']) assert.ok(merged.source.uri.includes(file), merged.source.uri)
  assert.is(merged.sink.uri.split(', ').length, 3)
  assert.is(merged.dryRun, false)
  assert.is(merged.checkpoint, undefined, 'each share has its own checkpoint')
  assert.is(merged.share, undefined)
  assert.equal(merged.shares, { count: 3, done: 1, partial: 2, failed: 0, notRun: 0, plan: plan3 })
  assert.is(merged.status, 'partial', 'done, but with failures')
  assert.match(formatReport(merged), new RegExp(`shares   3 of plan ${plan3}: 1 done, 2 partial, 0 failed, 0 not run`))
})

test('keeps failure samples from every share', () => {
  const merged = mergeReports([asShare(a, 0), asShare(b, 1), asShare(c, 2)])
  const where = merged.failures.samples.map((f) => `${f.code} ${f.message}`)
  assert.ok(where.some((w) => /^ERR_TRANSFORM a\.ndjson:4: .*refused e3/.test(w)), where.join('\n'))
  assert.ok(where.some((w) => /^ERR_TRANSFORM b\.ndjson:5: .*refused e24/.test(w)), where.join('\n'))
  assert.ok(where.some((w) => /^ERR_INVALID_JSON b\.ndjson:21/.test(w)), where.join('\n'))
})

test('takes samples in turn from each share, at most sampleLimit and never more than the schema allows', async () => {
  const junk = (n: number) => '{junk\n'.repeat(n)
  const reports: RunReport[] = []
  for (const [i, name] of ['x', 'y', 'z'].entries()) reports.push(asShare(await job(await tmp.file(`${name}.ndjson`, junk(70))), i))
  assert.equal(reports.map((r) => r.failures.samples.length), [70, 70, 70])
  const merged = mergeReports(reports)
  addsUp(merged)
  assert.is(merged.failures.count, 210)
  assert.is(merged.failures.samples.length, 100)
  const files = (r: RunReport) => r.failures.samples.map((f) => /^(\w)\.ndjson/.exec(f.message)![1])
  assert.equal(files(merged).slice(0, 6), ['x', 'y', 'z', 'x', 'y', 'z'])
  assert.equal(files(mergeReports(reports, { sampleLimit: 4 })), ['x', 'y', 'z', 'x'])
  rejects(() => mergeReports(reports, { sampleLimit: 500 }), 'ERR_INVALID_OPTION', /`sampleLimit`.*0 to 100, got `500`/)
})

test('a share that failed makes the merge failed, naming the share; shares without a report are notRun', async () => {
  const failed = await job('b.ndjson', { maxFailures: 0 })
  assert.is(failed.status, 'failed')
  const merged = mergeReports([asShare(c, 0, 4), asShare(failed, 2, 4)])
  addsUp(merged)
  assert.is(merged.status, 'failed')
  assert.equal(merged.shares, { count: 4, done: 1, partial: 0, failed: 1, notRun: 2, plan: planId('json:events/', 4) })
  assert.is(merged.error?.code, 'ERR_TOO_MANY_FAILURES')
  assert.match(merged.error!.message, /^share 3 of 4 \(report 1\): stopped after/)
  assert.match(mergeReports([asShare(c, 0, 4), asShare(failed, 2, 4)], { names: ['c.json', 'b.json'] }).error!.message, /^share 3 of 4 \(b\.json\)/)
})

test('every share done without a failure is ok; one not run yet is partial', () => {
  const merged = mergeReports([asShare(c, 0, 2), asShare(d, 1, 2)])
  addsUp(merged)
  assert.is(merged.status, 'ok')
  assert.equal(merged.shares, { count: 2, done: 2, partial: 0, failed: 0, notRun: 0, plan: planId('json:events/', 2) })
  assert.is(merged.error, undefined)
  const missing = mergeReports([asShare(c, 0, 2)])
  assert.is(missing.status, 'partial')
  assert.equal(missing.shares, { count: 2, done: 1, partial: 0, failed: 0, notRun: 1, plan: planId('json:events/', 2) })
  assert.equal(missing.share, { plan: planId('json:events/', 2), index: 0, count: 2 }, 'the reports of one share keep its share')
})

test('reports without a share count as one share each; `shares` counts the ones not run', () => {
  const merged = mergeReports([c, d])
  assert.equal(merged.shares, { count: 2, done: 2, partial: 0, failed: 0, notRun: 0 })
  assert.is(merged.status, 'ok')
  const withCount = mergeReports([c, d], { shares: 3 })
  assert.equal(withCount.shares, { count: 3, done: 2, partial: 0, failed: 0, notRun: 1 })
  assert.is(withCount.status, 'partial')
  rejects(() => mergeReports([a, c, d], { shares: 2 }), 'ERR_SHARE_MISMATCH', /3 reports of separate runs, more than the 2 shares/)
})

test('the invocations of one share (each resumed from its checkpoint) are added, but count as one share, in the state of the last', async () => {
  const stopped = mergeReports([asShare(first, 0, 2), asShare(d, 1, 2)])
  assert.equal(stopped.shares, { count: 2, done: 1, partial: 1, failed: 0, notRun: 0, plan: planId('json:events/', 2) }, 'a share stopped short is partial')
  assert.is(stopped.status, 'partial')
  assert.match(stopped.error!.message, /^share 1 of 2 \(report 0\): the run was stopped/)

  // Given in any order: the last one by its finish time says how the share stands.
  const merged = mergeReports([asShare(third, 0, 2), asShare(d, 1, 2), asShare(second, 0, 2), asShare(first, 0, 2)])
  addsUp(merged)
  assert.equal(merged.shares, { count: 2, done: 2, partial: 0, failed: 0, notRun: 0, plan: planId('json:events/', 2) })
  assert.is(merged.status, 'ok')
  assert.is(merged.error, undefined, 'the stop of an earlier invocation is over')
  assert.is(merged.source.read, first.source.read + second.source.read + d.source.read)
  assert.is(first.source.read + second.source.read, c.source.read, 'the invocations read c.ndjson once between them')
  assert.is(merged.sink.written, c.sink.written + d.sink.written)

  // A share whose invocations completed it, but one of them had a failure, is partial (done with failures).
  const shareA = { checkpoint: 'a.ckpt', batchSize: 1 }
  controller = new AbortController()
  stopAt = 3
  const aFirst = await job('a.ndjson', { ...shareA, signal: controller.signal })
  stopAt = 0
  await sleep(5)
  const aSecond = await job('a.ndjson', shareA)
  assert.equal([aFirst.failures.count, aSecond.failures.count, aSecond.checkpoint?.complete], [1, 0, true])
  const withFailure = mergeReports([asShare(aFirst, 0, 2), asShare(aSecond, 0, 2), asShare(d, 1, 2)])
  addsUp(withFailure)
  assert.equal(withFailure.shares, { count: 2, done: 1, partial: 1, failed: 0, notRun: 0, plan: planId('json:events/', 2) })
  assert.is(withFailure.status, 'partial')
  assert.is(withFailure.failures.count, 1)
})

test('--rate auto: each share\'s latest rate, added up across shares; throttles and backoff of every report added', () => {
  const rate = (settled: number, throttles: number, reason: string) => ({ mode: 'auto' as const, startPerSecond: 10, maxPerSecond: 500, minPerSecond: 1, settledPerSecond: settled, lastPerSecond: settled + 5, peakPerSecond: settled * 2, throttles, throttledBy: { [reason]: throttles }, decreases: 1, backoffMs: 100 })
  const withRate = (report: RunReport, r: ReturnType<typeof rate>) => ({ ...report, sink: { ...report.sink, rate: r } })
  const merged = mergeReports([asShare(withRate(first, rate(50, 3, 'ThrottlingException')), 0, 2), asShare(withRate(second, rate(80, 2, 'ThrottlingException')), 0, 2), asShare(withRate(d, rate(120, 4, 'HTTP 429')), 1, 2)])
  assert.equal(merged.sink.rate, { mode: 'auto', startPerSecond: 20, maxPerSecond: 1000, minPerSecond: 2, settledPerSecond: 200, lastPerSecond: 210, peakPerSecond: 400, throttles: 9, throttledBy: { ThrottlingException: 5, 'HTTP 429': 4 }, decreases: 3, backoffMs: 300 })
  assert.is(mergeReports([first, d]).sink.rate, undefined, 'no rate, no section')
})

test('--rebuild (one run, never shares): the latest report says where it wrote and what the swap did', () => {
  const rebuild = (state: 'pending' | 'swapped') => ({ target: 'users', table: 'users__rebuild_x', state, steps: [], message: state })
  const merged = mergeReports([asShare({ ...second, rebuild: rebuild('swapped') } as RunReport, 0, 1, planId('json:events/', 1)), asShare({ ...first, rebuild: rebuild('pending') } as RunReport, 0, 1, planId('json:events/', 1))])
  assert.is(merged.rebuild?.state, 'swapped')
})

test("a share's report so far merged with its next invocation, then the shares' reports merged, is the merge of them all", () => {
  const plan2 = planId('json:events/', 2)
  // As a worker does: each invocation returns the share's report so far with its own run added.
  const soFar = mergeReports([asShare(first, 0, 2)])
  assert.equal(soFar.share, { plan: plan2, index: 0, count: 2 })
  assert.equal(soFar.shares, { count: 2, done: 0, partial: 1, failed: 0, notRun: 1, plan: plan2 })
  const shareDone = mergeReports([soFar, asShare(second, 0, 2)])
  assert.equal(shareDone.shares, { count: 2, done: 1, partial: 0, failed: 0, notRun: 1, plan: plan2 }, 'the last invocation completed the share')
  const atOnce = mergeReports([asShare(first, 0, 2), asShare(second, 0, 2), asShare(d, 1, 2)])
  const inSteps = mergeReports([shareDone, asShare(d, 1, 2)])
  addsUp(inSteps)
  // (URIs aside: a merged report's are one joined text, joined again in another order.)
  const counts = (r: RunReport) => [r.status, r.shares, r.source.read, r.source.failed, r.filter, r.sink.written, r.sink.failed, r.failures.count, r.stages, r.error]
  assert.equal(counts(inSteps), counts(atOnce))
  assert.is(inSteps.status, 'ok')

  // A share still going, merged again: its state and its error (named once) carry over.
  const going = mergeReports([soFar, asShare(d, 1, 2)])
  assert.equal(going.shares, { count: 2, done: 1, partial: 1, failed: 0, notRun: 0, plan: plan2 })
  assert.match(going.error!.message, /^share 1 of 2 \(report 0\): the run was stopped/)
  assert.not.match(going.error!.message, /share 1 of 2.*share 1 of 2/)
  // (also when the report so far kept its checkpoint and dropped `shares`, as the Lambda handler does)
  const { shares: _, ...kept } = soFar
  const again = mergeReports([{ ...kept, checkpoint: first.checkpoint! }, asShare(d, 1, 2)])
  assert.equal(again.shares, going.shares)
  assert.is(again.error!.message, going.error!.message)

  // Merged reports of several shares merge again, share counts added.
  const halves = mergeReports([mergeReports([asShare(a, 0), asShare(c, 2)]), mergeReports([asShare(b, 1)])])
  const all3 = mergeReports([asShare(a, 0), asShare(b, 1), asShare(c, 2)])
  assert.equal(counts(halves), counts(all3))
  assert.equal(mergeReports([mergeReports([c, d]), a]).shares, { count: 3, done: 2, partial: 1, failed: 0, notRun: 0 })
  // A merged report whose shares do not add up is refused.
  rejects(() => mergeReports([{ ...soFar, shares: { ...soFar.shares!, done: 1 } }]), 'ERR_INVALID_OPTION', /report 0 is not a merged report: its shares/)
})

test('refuses shares of different plans, and a share count that disagrees with the plan', () => {
  rejects(() => mergeReports([asShare(c, 0, 2, 'planA'), asShare(d, 1, 2, 'planB')]), 'ERR_SHARE_MISMATCH', /report 1 is a share of plan planB.*report 0 one of plan planA/)
  rejects(() => mergeReports([asShare(c, 0, 2), asShare(d, 1, 3)]), 'ERR_SHARE_MISMATCH', /plan/)
  rejects(() => mergeReports([asShare(c, 0, 2), asShare(d, 1, 2)], { shares: 5 }), 'ERR_SHARE_MISMATCH', /has 2 shares, not the 5 given/)
  rejects(() => mergeReports([asShare(c, 0, 2), d]), 'ERR_SHARE_MISMATCH', /report 1 is not a share of a split run/)
})

test('refuses dry runs mixed with real runs, a report given twice, other stages, and values that are not reports', async () => {
  const dry = await job('d.ndjson', { dryRun: true })
  assert.is(dry.dryRun, true)
  rejects(() => mergeReports([c, dry]), 'ERR_INVALID_OPTION', /cannot merge dry runs with real runs: dry run in report 1; real run in report 0/)
  assert.is(mergeReports([dry]).dryRun, true)
  rejects(() => mergeReports([c, d, c]), 'ERR_INVALID_OPTION', /report 2 is the same run as report 0.*given twice/)
  const unfiltered = await hydrate({ source: 'json:d.ndjson', sink: 'ndjson:d.unfiltered', cwd: tmp.dir })
  rejects(() => mergeReports([c, unfiltered]), 'ERR_INVALID_OPTION', /report 1 ran other stages \(\) than report 0/)
  rejects(() => mergeReports([c, { ...d, status: 'done' } as unknown as RunReport]), 'ERR_INVALID_OPTION', /report 1 is not a run report: \/status/)
  rejects(() => mergeReports([c, { ...d, share: { plan: 'p', index: 2, count: 2 } }]), 'ERR_INVALID_OPTION', /report 1 is not a run report: its share index 2 is not below its count 2/)
  rejects(() => mergeReports([c, { ...d, startedAt: 'yesterday' }]), 'ERR_INVALID_OPTION', /report 1 is not a run report: \/startedAt/)
  rejects(() => mergeReports([]), 'ERR_INVALID_OPTION', /non-empty array/)
  rejects(() => mergeReports([c], { shares: 0 }), 'ERR_INVALID_OPTION', /`shares` to be an integer >= 1, got `0`/)
})

test('adds retries, skip reasons and dry-run plans by key; a key such as __proto__ is data', () => {
  const hostile = (r: RunReport, n: number): RunReport => ({
    ...r,
    sink: { ...r.sink, retries: JSON.parse(`{"throttled": ${n}}`), skippedBy: JSON.parse(`{"__proto__": ${n}, "stale": 1}`), plan: { wouldInsert: n, wouldUpdate: 1, wouldDelete: 0, wouldSkip: 2, exact: n > 1 } },
  })
  const merged = mergeReports([hostile(c, 2), hostile(d, 3)])
  assert.equal(Object.entries(merged.sink.skippedBy), [['__proto__', 5], ['stale', 2]])
  assert.is(Object.getPrototypeOf(merged.sink.skippedBy), Object.prototype)
  assert.equal(merged.sink.retries, { throttled: 5 })
  assert.equal(merged.sink.plan, { wouldInsert: 5, wouldUpdate: 2, wouldDelete: 0, wouldSkip: 4, exact: true })
  assert.is(mergeReports([hostile(c, 1), hostile(d, 3)]).sink.plan!.exact, false, 'exact only when every plan is')
  assert.is(mergeReports([hostile(c, 1), d]).sink.plan, undefined, 'a plan only when every report has one')
})

test.run()
