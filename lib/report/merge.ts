import { HydratorError } from '../errors.js'
import { capText } from '../util/text.js'
import { DEFAULT_SAMPLE_LIMIT } from './failures.js'
import type { ItemFailure, ReportRate, ReportShare, ReportShares, RunReport, RunStatus, StageCount } from './schema.js'
import { reportProblems } from './validate.js'

/** The most failure samples a report holds (the schema's `maxItems`). */
const MAX_SAMPLES = 100
/** Distinct URIs a merged report names before it says how many more there are. */
const MAX_URIS = 5

/** Options of {@link mergeReports}. */
export interface MergeReportsOptions {
  /**
   * Shares in the plan, so that shares without any report count as `notRun`. Must agree with the
   * reports' `share.count`.
   * @default the reports' `share.count`, else one share per report
   */
  readonly shares?: number
  /** Failure samples to keep, taken in turn from each share so that every share is represented. @default 100 (the most a report holds) */
  readonly sampleLimit?: number
  /** How messages name each report, by index (file names in the CLI). @default `report <index>` */
  readonly names?: readonly string[]
}

type ShareState = 'done' | 'partial' | 'failed'

/**
 * The reports of one share (or one report without a share), oldest first, and how many shares it
 * stands for in each state: one, or a merged report's own counts when it merged several shares.
 */
interface Group {
  readonly share?: ReportShare
  readonly reports: { readonly report: RunReport; readonly index: number }[]
  states: Record<ShareState, number>
}

/**
 * Merges the reports of a split run (one or more per share: each resumed invocation of a share reads
 * on from its checkpoint) into one report that still adds up: counts, retries, skip reasons and stage
 * counts are added, failure samples are taken in turn from each share (up to `sampleLimit`), the time
 * span runs from the first start to the last finish, and `shares` says how each share ended, judged by
 * its last report: `done` (complete, no failure), `partial` (complete with failures, or stopped
 * without failing and not complete yet), `failed`, or `notRun`. The status is `failed` when a share
 * failed, `partial` when one is partial or not run or anything failed, else `ok`; `error` is the
 * first error of a share that is not done, naming the share. The merged report has no `checkpoint`:
 * each share has its own. A merged report merges again (a share's report so far with its next
 * invocation, or several shares' with others): its share states carry over. Throws
 * ERR_INVALID_OPTION for a value that is not a run report, for dry runs mixed with real ones, or for
 * reports of different stage chains, and ERR_SHARE_MISMATCH for shares of different plans (or a
 * `shares` count that disagrees with them).
 *
 * @example
 * const merged = mergeReports(reports, { shares: 16 })
 * if (merged.shares!.notRun > 0) console.error(`${merged.shares!.notRun} shares have not run yet`)
 */
export function mergeReports(reports: readonly RunReport[], options: MergeReportsOptions = {}): RunReport {
  if (!Array.isArray(reports) || reports.length === 0) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`reports\` to be a non-empty array of run reports, got ${Array.isArray(reports) ? 'an empty array' : `\`${typeof reports}\``}`)
  }
  const { shares: sharesGiven, sampleLimit = DEFAULT_SAMPLE_LIMIT } = options
  if (sharesGiven !== undefined && (!Number.isInteger(sharesGiven) || sharesGiven < 1)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`shares\` to be an integer >= 1, got \`${String(sharesGiven)}\``)
  }
  if (!Number.isInteger(sampleLimit) || sampleLimit < 0 || sampleLimit > MAX_SAMPLES) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`sampleLimit\` to be an integer from 0 to ${MAX_SAMPLES}, got \`${String(sampleLimit)}\``)
  }
  const name = (i: number) => options.names?.[i] ?? `report ${i}`

  reports.forEach((report, i) => {
    const problems = reportProblems(report)
    if (problems.length > 0) throw new HydratorError('ERR_INVALID_OPTION', `${name(i)} is not a run report: ${problems.join('; ')}`)
    if (report.share && report.share.index >= report.share.count) {
      throw new HydratorError('ERR_INVALID_OPTION', `${name(i)} is not a run report: its share index ${report.share.index} is not below its count ${report.share.count}`)
    }
    const s = report.shares
    if (s && (s.done + s.partial + s.failed + s.notRun !== s.count || (report.share && s.done + s.partial + s.failed !== 1) || s.done + s.partial + s.failed === 0)) {
      throw new HydratorError('ERR_INVALID_OPTION', `${name(i)} is not a merged report: its shares (${s.done} done, ${s.partial} partial, ${s.failed} failed, ${s.notRun} not run) do not add up to its count ${s.count}${report.share ? ', or to one share' : ''}`)
    }
  })
  const dry = reports.map((r) => r.dryRun)
  if (dry.some((d) => d !== dry[0])) {
    const list = (want: boolean) => dry.flatMap((d, i) => (d === want ? [name(i)] : [])).slice(0, MAX_URIS).join(', ')
    throw new HydratorError('ERR_INVALID_OPTION', `cannot merge dry runs with real runs: dry run in ${list(true)}; real run in ${list(false)}`)
  }

  const plan = planOf(reports, sharesGiven, name)
  const groups = groupByShare(reports, name)
  const tally: Record<ShareState, number> = { done: 0, partial: 0, failed: 0 }
  for (const g of groups) for (const state of ['done', 'partial', 'failed'] as const) tally[state] += g.states[state]
  const seen = tally.done + tally.partial + tally.failed
  const count = sharesGiven ?? plan?.count ?? seen
  if (seen > count) {
    throw new HydratorError('ERR_SHARE_MISMATCH', `${seen} reports of separate runs, more than the ${count} shares given: each report without a share counts as one share`)
  }
  const stages = addStages(reports, name)

  // Counts: every report read a part no other one read (a resumed invocation reads after its checkpoint).
  const sum = (f: (r: RunReport) => number) => reports.reduce((total, r) => total + f(r), 0)
  const read = sum((r) => r.source.read)
  const plans = reports.map((r) => r.sink.plan)
  const sinkPlan = plans.every((p) => p !== undefined)
    ? {
        wouldInsert: plans.reduce((t, p) => t + p!.wouldInsert, 0),
        wouldUpdate: plans.reduce((t, p) => t + p!.wouldUpdate, 0),
        wouldDelete: plans.reduce((t, p) => t + p!.wouldDelete, 0),
        wouldSkip: plans.reduce((t, p) => t + p!.wouldSkip, 0),
        exact: plans.every((p) => p!.exact),
      }
    : undefined
  // (Folds, not Math.max(...list): thousands of invocations' reports would overflow the call stack.)
  const previewCap = reports.reduce((m, r) => Math.max(m, r.sink.previews.length), 0)

  const started = reports.reduce((m, r) => Math.min(m, Date.parse(r.startedAt)), Infinity)
  const finished = reports.reduce((m, r) => Math.max(m, Date.parse(r.finishedAt)), -Infinity)
  const durationMs = Math.max(0, finished - started)

  const notRun = count - seen
  const failures = sum((r) => r.failures.count)
  const status: RunStatus = tally.failed > 0 ? 'failed' : tally.partial > 0 || notRun > 0 || failures > 0 ? 'partial' : 'ok'
  const error = firstError(groups, name)
  const shares: ReportShares = { count, done: tally.done, partial: tally.partial, failed: tally.failed, notRun, ...(plan ? { plan: plan.id } : {}) }
  const only = groups.length === 1 ? groups[0]! : undefined
  const resumedAt = only?.reports[0]!.report.source.startedAt

  return {
    status,
    dryRun: dry[0]!,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationMs,
    source: {
      uri: joinUris(reports.map((r) => r.source.uri)),
      read,
      failed: sum((r) => r.source.failed),
      ...(resumedAt ? { startedAt: resumedAt } : {}),
    },
    filter: { matched: sum((r) => r.filter.matched), unmatched: sum((r) => r.filter.unmatched), prefiltered: sum((r) => r.filter.prefiltered) },
    sink: {
      uri: joinUris(reports.map((r) => r.sink.uri)),
      received: sum((r) => r.sink.received),
      written: sum((r) => r.sink.written),
      skipped: sum((r) => r.sink.skipped),
      failed: sum((r) => r.sink.failed),
      deleted: sum((r) => r.sink.deleted),
      previews: takeInTurn(groups.map((g) => g.reports.flatMap(({ report }) => report.sink.previews)), previewCap),
      retries: addCounts(reports.map((r) => r.sink.retries)),
      skippedBy: addCounts(reports.map((r) => r.sink.skippedBy)),
      ...(sinkPlan ? { plan: sinkPlan } : {}),
      ...(sum((r) => r.sink.parked ?? 0) > 0
        ? { parked: sum((r) => r.sink.parked ?? 0), parkedKeys: [...new Set(reports.flatMap((r) => r.sink.parkedKeys ?? []))].slice(0, 100) }
        : {}),
      ...rateOf(groups),
    },
    failures: {
      count: failures,
      samples: takeInTurn<ItemFailure>(groups.map((g) => g.reports.flatMap(({ report }) => report.failures.samples)), sampleLimit),
    },
    stages,
    eventsPerSecond: read / Math.max(durationMs / 1000, 0.001),
    ...(error ? { error } : {}),
    ...(only?.share ? { share: only.share } : {}),
    ...rebuildOf(groups),
    shares,
  }
}

/** The latest of a group's reports (a share run on from its checkpoint ends with the last one). */
const latest = (g: Group): RunReport => g.reports.reduce((a, b) => (Date.parse(b.report.finishedAt) >= Date.parse(a.report.finishedAt) ? b : a)).report

/**
 * `--rate auto` of the shares together: each share's latest rate (its reports follow one another),
 * added up across shares, which ran side by side; throttles, decreases and backoff added up.
 */
function rateOf(groups: readonly Group[]): { rate?: ReportRate } {
  const rates = groups.map((g) => latest(g).sink.rate).filter((r): r is ReportRate => r !== undefined)
  if (rates.length === 0) return {}
  const total = (f: (r: ReportRate) => number) => rates.reduce((t, r) => t + f(r), 0)
  const ceilings = rates.map((r) => r.maxPerSecond)
  const allReports = groups.flatMap((g) => g.reports.map(({ report }) => report.sink.rate)).filter((r): r is ReportRate => r !== undefined)
  return {
    rate: {
      mode: 'auto',
      startPerSecond: total((r) => r.startPerSecond),
      ...(ceilings.every((c) => c !== undefined) ? { maxPerSecond: ceilings.reduce((t, c) => t + c!, 0) } : {}),
      minPerSecond: total((r) => r.minPerSecond),
      settledPerSecond: total((r) => r.settledPerSecond),
      lastPerSecond: total((r) => r.lastPerSecond),
      peakPerSecond: total((r) => r.peakPerSecond),
      throttles: allReports.reduce((t, r) => t + r.throttles, 0),
      throttledBy: addCounts(allReports.map((r) => r.throttledBy)),
      decreases: allReports.reduce((t, r) => t + r.decreases, 0),
      backoffMs: allReports.reduce((t, r) => t + r.backoffMs, 0),
    },
  }
}

/** `--rebuild` (never split into shares): what the latest report of the one run says. */
function rebuildOf(groups: readonly Group[]): { rebuild?: NonNullable<RunReport['rebuild']> } {
  const withRebuild = groups.map(latest).filter((r) => r.rebuild !== undefined)
  return withRebuild.length === 1 ? { rebuild: withRebuild[0]!.rebuild! } : {}
}

/** The plan of a report: its share's, or that of the shares it merged. */
const planOfReport = (r: RunReport) => (r.share ? { id: r.share.plan, count: r.share.count } : r.shares?.plan !== undefined ? { id: r.shares.plan, count: r.shares.count } : undefined)

/** The plan the reports' shares belong to; all or none of the reports must have one, all the same. */
function planOf(reports: readonly RunReport[], sharesGiven: number | undefined, name: (i: number) => string): { id: string; count: number } | undefined {
  const first = reports.findIndex((r) => planOfReport(r))
  if (first < 0) return undefined
  const { id, count } = planOfReport(reports[first]!)!
  reports.forEach((r, i) => {
    const own = planOfReport(r)
    if (!own) {
      throw new HydratorError('ERR_SHARE_MISMATCH', `${name(i)} is not a share of a split run, and ${name(first)} is one of plan ${id}: merge the reports of one plan`)
    }
    if (own.id !== id || own.count !== count) {
      throw new HydratorError(
        'ERR_SHARE_MISMATCH',
        `${name(i)} is a share of plan ${own.id} (${own.count} shares), and ${name(first)} one of plan ${id} (${count} shares): merge the reports of one plan`,
      )
    }
  })
  if (sharesGiven !== undefined && sharesGiven !== count) {
    throw new HydratorError('ERR_SHARE_MISMATCH', `the reports are shares of plan ${id}, which has ${count} shares, not the ${sharesGiven} given (--shares)`)
  }
  return { id, count }
}

/**
 * The reports by share, each share's oldest first (by finish time, then as given); shares in plan
 * order, then reports without a share, one group each, as given (a merged report of several shares
 * is one of these). A report given twice is refused: its counts would be added twice.
 */
function groupByShare(reports: readonly RunReport[], name: (i: number) => string): Group[] {
  const byKey = new Map<string, Group>()
  const seen = new Map<string, number>()
  reports.forEach((report, index) => {
    const key = report.share ? `share ${report.share.index}` : `report ${index}`
    let group = byKey.get(key)
    if (!group) {
      const share = report.share ? { share: { plan: report.share.plan, index: report.share.index, count: report.share.count } } : {}
      byKey.set(key, (group = { ...share, reports: [], states: { done: 0, partial: 0, failed: 0 } }))
    }
    group.reports.push({ report, index })
    const print = JSON.stringify([key.startsWith('share') ? key : '', report.startedAt, report.finishedAt, report.source.uri, report.source.read, report.sink.uri, report.sink.written, report.failures.count, report.checkpoint?.file ?? ''])
    const twin = seen.get(print)
    if (twin !== undefined) throw new HydratorError('ERR_INVALID_OPTION', `${name(index)} is the same run as ${name(twin)} (same share, start, end and counts): was one report given twice?`)
    seen.set(print, index)
  })
  const groups = [...byKey.values()]
  const planned = groups.filter((g) => g.share).sort((a, b) => a.share!.index - b.share!.index)
  for (const group of groups) {
    group.reports.sort((a, b) => Date.parse(a.report.finishedAt) - Date.parse(b.report.finishedAt) || a.index - b.index)
    group.states = shareStates(group)
  }
  return [...planned, ...groups.filter((g) => !g.share)]
}

/**
 * A share's state, from its last report: `failed` when that one failed; `done` when it completed
 * (its checkpoint says so, or without a checkpoint it ran to the end) and no report of the share had
 * a failure; `partial` otherwise (completed with failures, or stopped without failing: aborted, out
 * of its time budget, failures holding the checkpoint, the last checkpoint write failed). A merged
 * report last (a share's report so far, merged again) gives its own share states.
 */
function shareStates(group: Group): Record<ShareState, number> {
  const last = group.reports[group.reports.length - 1]!.report
  const earlierFailures = group.reports.slice(0, -1).some(({ report }) => report.failures.count > 0)
  if (last.shares) {
    const { done, partial, failed } = last.shares
    return earlierFailures ? { done: 0, partial: partial + done, failed } : { done, partial, failed }
  }
  const one = (state: ShareState) => ({ done: 0, partial: 0, failed: 0, [state]: 1 }) as Record<ShareState, number>
  if (last.status === 'failed') return one('failed')
  const ck = last.checkpoint
  const complete = ck ? ck.complete && !ck.error : last.status === 'ok' || last.status === 'partial'
  const failures = earlierFailures || last.failures.count > 0 || (ck ? ck.totals.failed + ck.totals.sourceFailed > 0 : false)
  return one(complete && !failures ? 'done' : 'partial')
}

/** The first error of a failed share, else of another share that is not done, naming the share (a merged report's error names it already). */
function firstError(groups: readonly Group[], name: (i: number) => string): { code: string; message: string } | undefined {
  const ordered = [...groups.filter((g) => g.states.failed > 0), ...groups.filter((g) => g.states.failed === 0 && g.states.partial > 0)]
  for (const group of ordered) {
    const { report, index } = group.reports[group.reports.length - 1]!
    const error = report.error ?? report.checkpoint?.error
    if (!error) continue
    const share = group.share ? `share ${group.share.index + 1} of ${group.share.count}` : undefined
    // A share's report so far (merged before) names its share already.
    if (report.shares || (share && error.message.startsWith(`${share} (`))) return error
    return { code: error.code, message: capText(`${share ? `${share} (${name(index)})` : name(index)}: ${error.message}`) }
  }
  return undefined
}

/**
 * Stage counts added by position. Reports of one job have the same stages; a report with none that
 * read nothing (one that found its checkpoint complete) adds nothing and is not compared.
 */
function addStages(reports: readonly RunReport[], name: (i: number) => string): StageCount[] {
  const idle = (r: RunReport) => r.stages.length === 0 && r.source.read === 0
  const first = reports.findIndex((r) => !idle(r))
  if (first < 0) return []
  const shape = (r: RunReport) => r.stages.map((s) => `${s.name} (${s.kind})`).join(', ')
  const out = reports[first]!.stages.map((s) => ({ name: s.name, kind: s.kind, in: 0, out: 0, failed: 0 }))
  reports.forEach((r, i) => {
    if (idle(r)) return
    if (shape(r) !== shape(reports[first]!)) {
      throw new HydratorError('ERR_INVALID_OPTION', `${name(i)} ran other stages (${shape(r)}) than ${name(first)} (${shape(reports[first]!)}): merge the reports of one job`)
    }
    r.stages.forEach((s, k) => {
      out[k]!.in += s.in
      out[k]!.out += s.out
      out[k]!.failed += s.failed ?? 0
    })
  })
  return out.map(({ failed, ...s }) => (failed > 0 ? { ...s, failed } : s))
}

/** Counts by key, added; own keys only, so a key such as `__proto__` is a key like any other. */
function addCounts(records: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const totals = new Map<string, number>()
  for (const record of records) for (const [key, count] of Object.entries(record)) totals.set(key, (totals.get(key) ?? 0) + count)
  return Object.fromEntries(totals)
}

/** Up to `cap` items, one from each list in turn: the first of each list, then the second of each, ... */
function takeInTurn<T>(lists: readonly (readonly T[])[], cap: number): T[] {
  const out: T[] = []
  for (let k = 0; out.length < cap; k++) {
    let any = false
    for (const list of lists) {
      if (k >= list.length) continue
      any = true
      out.push(list[k]!)
      if (out.length >= cap) break
    }
    if (!any) break
  }
  return out
}

/** One URI when all reports name the same, else the distinct ones, the first few of them. */
function joinUris(uris: readonly string[]): string {
  const distinct = [...new Set(uris)]
  const shown = distinct.slice(0, MAX_URIS).join(', ')
  return capText(distinct.length > MAX_URIS ? `${shown}, and ${distinct.length - MAX_URIS} more` : shown, 1000)
}
