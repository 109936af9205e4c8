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

/**
 * A progress line on stderr (only when it is a TTY): events read, matched, written, rate, and
 * percent and ETA when the size is known (files: bytes).
 */
export function startProgress(stream: Writable): { update: (p: Progress) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar(
    {
      stream: stream as NodeJS.WritableStream,
      format: '{bar} {percentage}% | ETA {eta} | read {read} matched {matched} written {written} failed {failed} | {rate}/s',
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
      const total = p.bytesTotal && p.bytesTotal > 0 ? p.bytesTotal : 0
      const payload = {
        read: p.read.toLocaleString('en-US'),
        matched: p.matched.toLocaleString('en-US'),
        written: p.written.toLocaleString('en-US'),
        failed: p.failed.toLocaleString('en-US'),
        rate: Math.round(p.read / Math.max(p.elapsedMs / 1000, 0.001)).toLocaleString('en-US'),
        eta: eta(p, total),
      }
      if (!started) {
        bar.start(total || 1, total ? p.bytesRead : 0, payload)
        started = true
      } else bar.update(total ? p.bytesRead : 0, payload)
    },
    stop() {
      if (started) bar.stop()
    },
  }
}
