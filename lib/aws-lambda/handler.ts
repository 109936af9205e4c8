import { HydratorError, errorMessage } from '../errors.js'
import { hydrate, type HydrateOptions } from '../hydrate.js'
import { planShares } from '../plan-shares.js'
import { mergeReports } from '../report/merge.js'
import type { CheckpointTotals, RunReport } from '../report/schema.js'
import type { Share } from '../share.js'

/** The part of the Lambda context the handler reads. */
export interface LambdaContextLike {
  getRemainingTimeInMillis(): number
  readonly awsRequestId?: string
}

/**
 * What one invocation is asked to do (the state machine in examples/aws sends these):
 * - `{ action: 'plan', shares: 16 }`: split the source; returns `{ shares }`.
 * - `{ action: 'run', share?, report? }` (the default): run (one share of) the hydration until it is
 *   done or the time budget is spent; `report` is the share's report so far, passed back in by the
 *   loop, so the result's report covers every invocation of the share.
 * - `{ action: 'merge', reports, shares? }`: merge the shares' reports; returns `{ report }`.
 */
export interface HydrationInput {
  readonly action?: 'plan' | 'run' | 'merge'
  readonly shares?: number
  readonly share?: Share | string | null
  readonly report?: RunReport | null
  readonly reports?: readonly (RunReport | null | undefined)[]
  readonly [key: string]: unknown
}

/** What a `run` invocation returns. */
export interface HydrationResult {
  /** Every event of the share (or run) is handled: invoking again does nothing. */
  readonly done: boolean
  readonly share: Share | null
  /** Where the checkpoint is (its URI). */
  readonly checkpoint: string | null
  /** The share's report over every invocation so far (this one's added to the one passed in). */
  readonly report: RunReport
  /** What happened, in words: `done`, `stopped at the time budget`, `already done: nothing to do`. */
  readonly message: string
}

/** hydrate()'s options, and the handler's own. */
export interface HydrationHandlerOptions extends HydrateOptions {
  /**
   * Stop reading when the invocation has less than this left (ms), so that writes in flight finish
   * and the checkpoint is saved before Lambda's timeout. @default 60000
   */
  readonly safetyMarginMs?: number
}

export type HydrationHandler = (input: HydrationInput | undefined, context: LambdaContextLike) => Promise<HydrationResult | { shares: Share[] } | { report: RunReport }>

/** A HydratorError whose `name` is its code: Lambda reports `errorType: ERR_CHECKPOINT_LOCKED`, for Step Functions' Retry and Catch. */
function named(error: unknown): unknown {
  if (error instanceof HydratorError) Object.defineProperty(error, 'name', { value: error.code, configurable: true })
  return error
}

/**
 * An AWS Lambda handler that runs a hydration over as many invocations as it needs: each one
 * resumes from the checkpoint store (`checkpoint: 'dynamo:table/run-id'` or `'s3://bucket/key'`),
 * runs until `context.getRemainingTimeInMillis()` falls below `safetyMarginMs`, then stops the way
 * SIGTERM does (reading stops, writes in flight finish, the checkpoint is saved) and returns
 * `{ done, share, checkpoint, report }`. The checkpoint's lease ends with the invocation, so a
 * share is never run by two invocations at once, and one that was killed frees it by its deadline.
 * Configuration problems are thrown with `errorType` set to their code (ERR_CHECKPOINT_LOCKED,
 * ERR_TIME_BUDGET, ERR_SHARE_MISMATCH, ERR_AUTH, ...). It also plans shares and merges reports
 * (see {@link HydrationInput}), so one function serves the whole state machine.
 *
 * @example
 * export const handler = createHydrationHandler({
 *   source: 'dynamo:events',
 *   sink: 'dynamo:users',
 *   checkpoint: 'dynamo:hydration-checkpoints/backfill-1',
 * })
 */
export function createHydrationHandler(
  options: HydrationHandlerOptions | ((input: HydrationInput) => HydrationHandlerOptions | Promise<HydrationHandlerOptions>),
): HydrationHandler {
  if (typeof options !== 'function' && (!options || typeof options !== 'object')) {
    throw new HydratorError('ERR_INVALID_OPTION', 'createHydrationHandler() needs hydrate() options, or a function of the input that returns them')
  }
  return async (input, context) => {
    try {
      const event: HydrationInput = input && typeof input === 'object' ? input : {}
      const opts = typeof options === 'function' ? await options(event) : options
      if (!opts || typeof opts !== 'object') throw new HydratorError('ERR_INVALID_OPTION', 'the options function of createHydrationHandler() returned no options object')
      const action = event.action ?? 'run'
      if (action === 'plan') return { shares: await plan(opts, event) }
      if (action === 'merge') return { report: merge(event) }
      if (action !== 'run') throw new HydratorError('ERR_INVALID_OPTION', `unknown action \`${String(action)}\`: expected plan, run or merge`)
      return await runShare(opts, event, context)
    } catch (error) {
      throw named(error)
    }
  }
}

async function plan(opts: HydrationHandlerOptions, event: HydrationInput): Promise<Share[]> {
  if (typeof opts.source !== 'string') throw new HydratorError('ERR_SHARES_UNSUPPORTED', 'planning shares needs `source` as a URI')
  return planShares({
    source: opts.source,
    shares: event.shares as number,
    ...(opts.plugins ? { plugins: opts.plugins } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  })
}

function merge(event: HydrationInput): RunReport {
  if (!Array.isArray(event.reports)) throw new HydratorError('ERR_INVALID_OPTION', '`merge` needs `reports`: the reports of the shares')
  // A share whose loop failed (caught by the state machine) has no report: it counts as not run.
  const reports = event.reports.filter((r): r is RunReport => !!r && typeof r === 'object')
  if (reports.length === 0) return nothingRan(event.shares)
  return mergeReports(reports, event.shares !== undefined ? { shares: event.shares } : {})
}

/** The merged report when no share left a report (every one failed): failed, every share not run. */
function nothingRan(shares: number | undefined): RunReport {
  const now = new Date().toISOString()
  const count = Number.isInteger(shares) && shares! > 0 ? shares! : 1
  return {
    status: 'failed',
    dryRun: false,
    startedAt: now,
    finishedAt: now,
    durationMs: 0,
    source: { uri: 'none', read: 0, failed: 0 },
    filter: { matched: 0, unmatched: 0, prefiltered: 0 },
    sink: { uri: 'none', received: 0, written: 0, skipped: 0, failed: 0, deleted: 0, previews: [], retries: {}, skippedBy: {} },
    failures: { count: 0, samples: [] },
    stages: [],
    eventsPerSecond: 0,
    error: { code: 'ERR_NOT_HANDLED', message: `no share left a report: all ${count} failed before they could report (see the state machine's execution history)` },
    shares: { count, done: 0, partial: 0, failed: 0, notRun: count },
  }
}

async function runShare(opts: HydrationHandlerOptions, event: HydrationInput, context: LambdaContextLike): Promise<HydrationResult> {
  if (!context || typeof context.getRemainingTimeInMillis !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', 'the handler needs the Lambda context (with getRemainingTimeInMillis) as its second argument')
  }
  if (!opts.checkpoint) {
    throw new HydratorError('ERR_USAGE', 'a hydration in Lambda needs `checkpoint` (e.g. `dynamo:hydration-checkpoints/run-1` or `s3://bucket/run-1.json`): each invocation resumes from it')
  }
  const env = opts.env ?? process.env
  if (typeof opts.checkpoint === 'string' && !/^[a-z][a-z0-9+.-]+:/i.test(opts.checkpoint) && env.AWS_LAMBDA_FUNCTION_NAME) {
    throw new HydratorError('ERR_USAGE', `checkpoint \`${opts.checkpoint}\` is a local file: in Lambda it is lost with the instance. Use a store: \`dynamo:<table>/<run-id>\` or \`s3://<bucket>/<key>\``)
  }
  const { safetyMarginMs: givenMargin, ...hydrateOptions } = opts
  const margin = givenMargin ?? 60_000
  if (!Number.isFinite(margin) || margin < 0) throw new HydratorError('ERR_INVALID_OPTION', `expected \`safetyMarginMs\` to be milliseconds >= 0, got \`${String(givenMargin)}\``)
  const remaining = context.getRemainingTimeInMillis()
  if (!(remaining > margin)) {
    throw new HydratorError(
      'ERR_TIME_BUDGET',
      `only ${remaining} ms are left of this invocation, not more than the safety margin of ${margin} ms: nothing was read or written. Raise the function's timeout (at most 900 s) or lower safetyMarginMs.`,
    )
  }
  const deadline = Date.now() + remaining
  const controller = new AbortController()
  const stop = () => {
    if (!controller.signal.aborted && context.getRemainingTimeInMillis() <= margin) controller.abort(new HydratorError('ERR_ABORTED', 'the invocation reached its time budget'))
  }
  const timer = setInterval(stop, Math.min(1000, Math.max(50, Math.floor(margin / 4))))
  const onUserAbort = () => controller.abort(opts.signal?.reason)
  opts.signal?.addEventListener('abort', onUserAbort, { once: true })
  let report: RunReport
  try {
    report = await hydrate({
      ...hydrateOptions,
      ...(event.share !== undefined && event.share !== null ? { share: event.share } : {}),
      signal: controller.signal,
      // The lease ends with the invocation: a killed one frees its share by then.
      checkpointLease: () => deadline,
    })
  } finally {
    clearInterval(timer)
    opts.signal?.removeEventListener('abort', onUserAbort)
  }
  const ck = report.checkpoint
  const done = ck?.complete === true
  const share = (typeof event.share === 'string' ? (JSON.parse(event.share) as Share) : event.share) ?? null
  const message = ck?.alreadyComplete
    ? 'already done: nothing to do'
    : done
      ? 'done'
      : report.status === 'failed'
        ? `failed: ${report.error ? `${report.error.code}: ${report.error.message}` : 'see the report'}`
        : controller.signal.aborted
          ? 'stopped at the time budget: invoke again to go on'
          : 'not done: invoke again to go on'
  return { done, share, checkpoint: ck?.file ?? null, report: cumulative(event.report, report), message }
}

/**
 * The share's report over every invocation of this loop: this one's added to the one passed in,
 * with the counts taken from the checkpoint, which counts each event once up to its mark: the
 * totals now, less the totals before the loop's first invocation. Events an invocation had read
 * but not handled when it stopped (ERR_NOT_HANDLED) are read again by the next one, so they are
 * neither read twice nor failed in the share's report.
 */
function cumulative(before: RunReport | null | undefined, now: RunReport): RunReport {
  let merged = now
  if (before) {
    try {
      const { shares: _summary, ...both } = mergeReports([before, now]) as RunReport & { shares?: unknown }
      merged = both as RunReport
    } catch (error) {
      throw new HydratorError('ERR_INVALID_OPTION', `\`report\` in the input is not a report of this share: ${errorMessage(error)}`)
    }
  }
  const common = { status: now.status, ...(now.share ? { share: now.share } : {}), ...(now.checkpoint ? { checkpoint: now.checkpoint } : {}) }
  const t = now.checkpoint?.totals
  if (!t) return { ...merged, ...common }
  const base = baseline(before, now)
  const d = (k: keyof CheckpointTotals) => Math.max(0, t[k] - base[k])
  const written = d('written')
  const seconds = Math.max(merged.durationMs / 1000, 0.001)
  return {
    ...merged,
    ...common,
    source: { ...merged.source, read: d('read'), failed: d('sourceFailed') },
    filter: { matched: d('matched'), unmatched: d('unmatched'), prefiltered: Math.min(merged.filter.prefiltered, d('unmatched')) },
    sink: { ...merged.sink, received: written + d('skipped') + d('failed'), written, skipped: d('skipped'), failed: d('failed'), deleted: Math.min(merged.sink.deleted, written) },
    failures: { count: d('failed') + d('sourceFailed'), samples: merged.failures.samples.filter((f) => f.code !== 'ERR_NOT_HANDLED') },
    eventsPerSecond: d('read') / seconds,
  }
}

/** The checkpoint's totals before the loop's first invocation. */
function baseline(before: RunReport | null | undefined, now: RunReport): CheckpointTotals {
  const zero: CheckpointTotals = { read: 0, matched: 0, unmatched: 0, written: 0, skipped: 0, failed: 0, sourceFailed: 0 }
  const prior = before?.checkpoint?.totals
  if (!before || !prior) return { ...zero, ...now.checkpoint?.startTotals }
  // The report passed in counted its checkpoint's totals less the baseline: take them off again.
  return {
    read: prior.read - before.source.read,
    matched: prior.matched - before.filter.matched,
    unmatched: prior.unmatched - before.filter.unmatched,
    written: prior.written - before.sink.written,
    skipped: prior.skipped - before.sink.skipped,
    failed: prior.failed - before.sink.failed,
    sourceFailed: prior.sourceFailed - before.source.failed,
  }
}
