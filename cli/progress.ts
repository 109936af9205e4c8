import cliProgress from 'cli-progress'
import type { Writable } from 'node:stream'
import type { Progress } from '../lib/run.js'

/**
 * Time left, from the bytes read so far, once there is enough of a run to tell (3 s and 1%): the
 * first ticks would otherwise say `ETA 0s`.
 */
export function eta(p: Pick<Progress, 'elapsedMs' | 'bytesRead'>, total: number): string {
  if (!total || p.elapsedMs < 3000 || p.bytesRead < total / 100) return '--'
  const seconds = Math.max(0, Math.round(((total - p.bytesRead) / p.bytesRead) * (p.elapsedMs / 1000)))
  return seconds >= 3600 ? `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m` : seconds >= 60 ? `${Math.floor(seconds / 60)}m${seconds % 60}s` : `${seconds}s`
}

/** The adaptive rate as the progress line shows it: whole numbers, one decimal below 10/s. */
export function paceText(perSecond: number): string {
  return perSecond >= 10 ? Math.round(perSecond).toLocaleString('en-US') : perSecond.toFixed(1)
}

/**
 * A progress line on stderr (only when it is a TTY): events read, matched, written, rate, and
 * percent and ETA when the size is known (files: bytes).
 */
export function startProgress(stream: Writable): { update: (p: Progress) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar(
    {
      stream: stream as NodeJS.WritableStream,
      format: '{bar} {percentage}% | ETA {eta} | {phase}read {read} matched {matched} written {written} failed {failed} | {rate}/s{pace}',
      barsize: 20,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 20,
      noTTYOutput: false,
    },
    cliProgress.Presets.shades_classic,
  )
  let started = false
  return {
    update(p) {
      const sort = p.sort
      // Sorting: the bar follows the bytes read; writing: the events written of those sorted.
      const writing = sort?.phase === 'writing' && sort.total ? sort.total : 0
      const total = writing || (p.bytesTotal && p.bytesTotal > 0 ? p.bytesTotal : 0)
      const done = writing ? p.read : p.bytesRead
      const payload = {
        phase: !sort ? '' : sort.phase === 'sorting' ? `1/2 reading and sorting: ${sort.read.toLocaleString('en-US')} events, ${sort.runs} runs spilled | ` : '2/2 writing | ',
        read: p.read.toLocaleString('en-US'),
        matched: p.matched.toLocaleString('en-US'),
        written: p.written.toLocaleString('en-US'),
        failed: p.failed.toLocaleString('en-US'),
        rate: Math.round(p.read / Math.max(p.elapsedMs / 1000, 0.001)).toLocaleString('en-US'),
        // --rate auto: the rate the sink may write at now.
        pace: p.ratePerSecond === undefined ? '' : ` | rate auto ${paceText(p.ratePerSecond)}/s`,
        eta: writing ? eta({ elapsedMs: p.elapsedMs, bytesRead: done }, total) : eta(p, total),
      }
      if (!started) {
        bar.start(total || 1, total ? done : 0, payload)
        started = true
      } else {
        if (total && bar.getTotal() !== total) bar.setTotal(total)
        bar.update(total ? done : 0, payload)
      }
    },
    stop() {
      if (started) bar.stop()
    },
  }
}
