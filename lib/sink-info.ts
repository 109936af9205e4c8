// What a sink says about itself (its capabilities) and what it reports (its result, from its tally).
// Split from define-sink.ts, which re-exports it.
import type { FailureSamples } from './report/failures.js'
import type { SinkCapabilities, SinkResult, SinkTally } from './types.js'

/** What every sink reports, from its tally: the counts, samples, previews, retries and skip reasons. */
export function resultOf(uri: string, dryRun: boolean, tally: SinkTally, samples: FailureSamples, previews: readonly unknown[]): SinkResult {
  return {
    uri,
    dryRun,
    received: tally.received,
    written: tally.written,
    skipped: tally.skipped,
    failed: tally.failed,
    failures: samples.samples,
    previews,
    retries: { ...tally.retries },
    skippedBy: { ...tally.skippedBy },
    ...(tally.parked ? { parked: tally.parked } : {}),
  }
}

/** A fresh set of sink counters. */
export function newTally(): SinkTally {
  return { received: 0, written: 0, skipped: 0, failed: 0, retries: {}, skippedBy: {} }
}

/** What a sink says about itself beyond its shape: its {@link SinkCapabilities}. */
export type SinkInfo = SinkCapabilities

/**
 * Gives a sink function its capabilities as plain properties (`uri`, `pacedPerSecond`,
 * `checkpointEveryBatch`), which `run()` and the CLI read through the Sink type. A plugin whose sink
 * honours the factory context's `ratePerSecond` itself says so with `pacedPerSecond`; the CLI paces
 * every other sink with a rate stage.
 *
 * @example
 * return withSinkInfo(mySink, { pacedPerSecond: context.ratePerSecond })
 */
export function withSinkInfo<F extends object>(sink: F, info: SinkCapabilities): F & SinkCapabilities {
  for (const [key, value] of Object.entries(info)) if (value !== undefined) Object.defineProperty(sink, key, { value, enumerable: false, configurable: true })
  return sink as F & SinkCapabilities
}

/** Every capability withSinkInfo() can set. */
const CAPABILITIES = ['uri', 'pacedPerSecond', 'checkpointEveryBatch', 'writesRawText', 'textOnly', 'rebuild'] as const satisfies readonly (keyof SinkCapabilities)[]

/** The capabilities of a sink (for code that holds an untyped one). */
export function sinkInfo(sink: unknown): SinkCapabilities {
  if (typeof sink !== 'function') return {}
  const info: Record<string, unknown> = {}
  for (const key of CAPABILITIES) {
    const value = (sink as SinkCapabilities)[key]
    if (value !== undefined && value !== false) info[key] = value
  }
  return info as SinkCapabilities
}
