import { formatPosition } from '../position.js'
import { stringifyTagged } from '../util/tagged-json.js'
import { capText } from '../util/text.js'
import type { RunReport } from './report.js'

const n = (x: number) => x.toLocaleString('en-US')
/** `events.ndjson:` but `count:` rather than `count::` for a URI that ends with its colon. */
const named = (uri: string) => (uri.endsWith(':') ? uri : `${uri}:`)

/** `--rate auto` in one line: where it started and settled, the throttles and the time backing off. */
function formatRate(rate: NonNullable<RunReport['sink']['rate']>, dryRun: boolean): string {
  const perSecond = (x: number) => `${x >= 10 ? n(Math.round(x)) : x.toFixed(1)}/s`
  const ceiling = rate.maxPerSecond !== undefined ? `, ceiling ${perSecond(rate.maxPerSecond)}` : ''
  if (dryRun) return `auto: would start at ${perSecond(rate.startPerSecond)}${ceiling}, then grow while writes succeed and back off when the target throttles`
  const by = Object.entries(rate.throttledBy)
  const throttles = rate.throttles > 0 ? `${n(rate.throttles)} throttle(s) (${by.map(([why, count]) => `${why} x${n(count)}`).join(', ')}), lowered ${n(rate.decreases)} time(s), ${(rate.backoffMs / 1000).toFixed(1)} s backing off` : 'no throttling'
  return `auto: settled at ${perSecond(rate.settledPerSecond)} (started at ${perSecond(rate.startPerSecond)}, peak ${perSecond(rate.peakPerSecond)}${ceiling}); ${throttles}`
}

/**
 * A short human summary of a report, for stderr: what was read, matched, written, skipped and
 * failed, where, and the first failures.
 *
 * @example
 * process.stderr.write(formatReport(report))
 */
export function formatReport(report: RunReport, { samples = 10 }: { samples?: number } = {}): string {
  const lines: string[] = []
  const head = report.dryRun ? `${report.status.toUpperCase()} (dry run: nothing was written)` : report.status.toUpperCase()
  lines.push(`${head} in ${(report.durationMs / 1000).toFixed(1)} s, ${n(Math.round(report.eventsPerSecond))} events/s`)
  const shares = report.shares
  if (shares) {
    const of = shares.plan ? ` of plan ${shares.plan}` : ''
    lines.push(`  shares   ${n(shares.count)}${of}: ${n(shares.done)} done, ${n(shares.partial)} partial, ${n(shares.failed)} failed, ${n(shares.notRun)} not run`)
  } else if (report.share) {
    lines.push(`  share    ${report.share.index + 1} of ${report.share.count} (plan ${report.share.plan})`)
  }
  const resumed = report.source.startedAt ? ` (resumed at ${formatPosition(report.source.startedAt)})` : ''
  const threads = report.source.workerThreads ? ` (lines found on ${report.source.workerThreads === 1 ? 'a worker thread' : `${report.source.workerThreads} worker threads`})` : ''
  lines.push(`  source   ${named(`${report.source.uri}${resumed}`)} ${n(report.source.read)} read, ${n(report.source.failed)} unreadable${threads}`)
  const pre = report.filter.prefiltered ? ` (${n(report.filter.prefiltered)} skipped unparsed by the prefilter)` : ''
  lines.push(`  filter   ${n(report.filter.matched)} matched, ${n(report.filter.unmatched)} unmatched${pre}`)
  const verb = report.dryRun ? 'would write' : 'written'
  const deleted = report.sink.deleted ? ` (${n(report.sink.deleted)} deletes)` : ''
  const reasons = Object.entries(report.sink.skippedBy ?? {}).filter(([, count]) => count > 0)
  const why = reasons.length > 0 ? ` (${reasons.map(([reason, count]) => `${reason} ${n(count)}`).join(', ')})` : ''
  lines.push(
    `  sink     ${named(report.sink.uri)} ${n(report.sink.written)} ${verb}${deleted}, ${n(report.sink.skipped)} ${report.dryRun ? 'would skip' : 'skipped'}${why}, ${n(report.sink.failed)} failed`,
  )
  const parked = report.sink.parked
  if (parked) {
    const keys = (report.sink.parkedKeys ?? []).map((k) => capText(JSON.stringify(k), 60))
    lines.push(
      `  parked   ${n(parked)} of the failed: ${report.dryRun ? 'would not be sent' : 'not sent'}, an earlier event of their key failed${keys.length > 0 ? ` (${keys.length === 1 ? 'key' : 'keys'} ${keys.join(', ')})` : ''}; in the dead-letter file behind it, in order`,
    )
  }
  const plan = report.sink.plan
  if (plan) {
    lines.push(
      `  plan     would insert ${n(plan.wouldInsert)}, update ${n(plan.wouldUpdate)}, delete ${n(plan.wouldDelete)}, skip ${n(plan.wouldSkip)}` +
        (plan.exact ? ' (read from the target; the real run on the same state does the same)' : ' (approximate: too many keys to follow them all)'),
    )
  }
  const retries = Object.entries(report.sink.retries)
  if (retries.length > 0) lines.push(`  retries  ${retries.map(([why, count]) => `${why} x${count}`).join(', ')}`)
  const rate = report.sink.rate
  if (rate) lines.push(`  rate     ${formatRate(rate, report.dryRun)}`)
  if (report.error) lines.push(`  stopped  ${report.error.code}: ${report.error.message}`)
  const ck = report.checkpoint
  if (ck) {
    const where = ck.complete ? 'complete' : ck.position ? `up to ${formatPosition(ck.position)} (a rerun resumes after it)` : 'nothing handled yet (a rerun starts over)'
    const held = ck.held > 0 ? `; ${n(ck.held)} failure(s) in no dead-letter file hold it there, so a rerun reads them again (--dead-letter keeps them)` : ''
    const failed = ck.error ? `; the last write FAILED (${ck.error.code}: ${ck.error.message})` : ''
    lines.push(`  checkpoint ${ck.file}: ${where}${held}${failed}`)
  }
  if (report.failures.count > 0) {
    // Parked events count as failures but are not listed: the `parked` line says them.
    const listed = report.failures.count - (report.sink.parked ?? 0)
    const counted = report.sink.parked ? `${n(report.failures.count)} (${n(report.sink.parked)} parked)` : n(report.failures.count)
    lines.push(`  failures ${counted}${listed > report.failures.samples.length ? ` (first ${report.failures.samples.length} kept)` : ''}:`)
    for (const f of report.failures.samples.slice(0, samples)) {
      const key = f.key !== undefined ? ` key ${capText(stringifyTagged(f.key), 200)}` : ''
      const where = formatPosition(f.position)
      // Source messages already start with file:line; say it once.
      const message = f.message.startsWith(`${where}: `) ? f.message.slice(where.length + 2) : f.message
      lines.push(`    ${f.stage} ${where}${key}: ${f.code}: ${message}`)
    }
    if (listed > samples) lines.push(`    ... ${n(listed - Math.min(samples, report.failures.samples.length))} more (see --report json or --dead-letter)`)
  }
  if (report.dryRun && report.sink.previews.length > 0) {
    lines.push(`  previews (first ${report.sink.previews.length}):`)
    const clip = (text: string) => (text.length > 200 ? `${text.slice(0, 197)}...` : text)
    for (const p of report.sink.previews) {
      const planned = plan && p && typeof p === 'object' && 'op' in p ? (p as { op: string; key?: unknown; current?: unknown; next?: unknown; reason?: string }) : undefined
      if (planned) {
        const key = planned.key !== undefined ? ` ${stringifyTagged(planned.key)}` : ''
        const reason = planned.reason ? ` (${planned.reason})` : ''
        lines.push(`    ${planned.op}${key}${reason}`)
        if (planned.current !== undefined) lines.push(`      now:  ${clip(stringifyTagged(planned.current))}`)
        if (planned.next !== undefined) lines.push(`      then: ${clip(stringifyTagged(planned.next))}`)
      } else lines.push(`    ${clip(stringifyTagged(p))}`)
    }
  }
  return lines.join('\n') + '\n'
}
