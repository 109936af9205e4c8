import { formatPosition } from '../position.js'
import { stringifyTagged } from '../util/tagged-json.js'
import type { RunReport } from './report.js'

const n = (x: number) => x.toLocaleString('en-US')

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
  const resumed = report.source.startedAt ? ` (resumed at ${formatPosition(report.source.startedAt)})` : ''
  lines.push(`  source   ${report.source.uri}${resumed}: ${n(report.source.read)} read, ${n(report.source.failed)} unreadable`)
  const pre = report.filter.prefiltered ? ` (${n(report.filter.prefiltered)} skipped unparsed by the prefilter)` : ''
  lines.push(`  filter   ${n(report.filter.matched)} matched, ${n(report.filter.unmatched)} unmatched${pre}`)
  const verb = report.dryRun ? 'would write' : 'written'
  const deleted = report.sink.deleted ? ` (${n(report.sink.deleted)} deletes)` : ''
  lines.push(
    `  sink     ${report.sink.uri}: ${n(report.sink.written)} ${verb}${deleted}, ${n(report.sink.skipped)} skipped, ${n(report.sink.failed)} failed`,
  )
  const retries = Object.entries(report.sink.retries)
  if (retries.length > 0) lines.push(`  retries  ${retries.map(([why, count]) => `${why} x${count}`).join(', ')}`)
  if (report.error) lines.push(`  stopped  ${report.error.code}: ${report.error.message}`)
  const ck = report.checkpoint
  if (ck) {
    const where = ck.complete ? 'complete' : ck.position ? `up to ${formatPosition(ck.position)} (a rerun resumes after it)` : 'nothing handled yet (a rerun starts over)'
    const held = ck.held > 0 ? `; ${n(ck.held)} failure(s) in no dead-letter file hold it there, so a rerun reads them again (--dead-letter keeps them)` : ''
    const failed = ck.error ? `; the last write FAILED (${ck.error.code}: ${ck.error.message})` : ''
    lines.push(`  checkpoint ${ck.file}: ${where}${held}${failed}`)
  }
  if (report.failures.count > 0) {
    lines.push(`  failures ${n(report.failures.count)}${report.failures.count > report.failures.samples.length ? ` (first ${report.failures.samples.length} kept)` : ''}:`)
    for (const f of report.failures.samples.slice(0, samples)) {
      const key = f.key !== undefined ? ` key ${stringifyTagged(f.key)}` : ''
      const where = formatPosition(f.position)
      // Source messages already start with file:line; say it once.
      const message = f.message.startsWith(`${where}: `) ? f.message.slice(where.length + 2) : f.message
      lines.push(`    ${f.stage} ${where}${key}: ${f.code}: ${message}`)
    }
    if (report.failures.count > samples) lines.push(`    ... ${n(report.failures.count - Math.min(samples, report.failures.samples.length))} more (see --report json or --dead-letter)`)
  }
  if (report.dryRun && report.sink.previews.length > 0) {
    lines.push(`  previews (first ${report.sink.previews.length}):`)
    for (const p of report.sink.previews) {
      const text = stringifyTagged(p)
      lines.push(`    ${text.length > 200 ? `${text.slice(0, 197)}...` : text}`)
    }
  }
  return lines.join('\n') + '\n'
}
