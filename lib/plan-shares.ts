import { registryWith } from './builtins.js'
import { HydratorError } from './errors.js'
import type { FactoryContext, Plugin } from './registry.js'
import { sharesOf, type Share } from './share.js'
import { redactUri } from './util/options.js'

/** What {@link planShares} takes: the source as `hydrate()` takes it, and the count. */
export interface PlanSharesOptions {
  /** The source URI (`dynamo:events`, `opensearch:http://.../events?sort=time`, `json:./events/`). */
  readonly source: string
  /** Into how many shares. */
  readonly shares: number
  readonly plugins?: readonly (string | Plugin)[]
  /** @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** @default process.cwd() */
  readonly cwd?: string
}

/** The most shares one plan makes (a Distributed Map runs up to 10,000 children at once). */
export const MAX_SHARES = 10_000

/**
 * Splits a source into shares that together read every event exactly once, each key's events in
 * one share: DynamoDB scan segments (by partition key), OpenSearch slices, ranges of files. Each
 * share is JSON, for a Step Functions Distributed Map or a shell loop; run each with
 * `hydrate({ ...options, share })` (`--share '<json>'`) and its own checkpoint.
 *
 * @example
 * const shares = await planShares({ source: 'dynamo:events', shares: 16 })
 * await Promise.all(shares.map((share) => hydrate({ source: 'dynamo:events', sink, share, checkpoint: 'dynamo:ckpt/run-1' })))
 */
export async function planShares(options: PlanSharesOptions): Promise<Share[]> {
  const count = options.shares
  if (!Number.isInteger(count) || count < 1 || count > MAX_SHARES) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`shares\` (--shares) to be an integer from 1 to ${MAX_SHARES}, got \`${String(count)}\``)
  }
  if (typeof options.source !== 'string' || !options.source) throw new HydratorError('ERR_USAGE', 'planning shares needs --source as a URI, e.g. --source dynamo:events')
  const cwd = options.cwd ?? process.cwd()
  const closers: (() => Promise<void> | void)[] = []
  const context: FactoryContext = { env: options.env ?? process.env, cwd, flags: {}, onClose: (fn) => closers.push(fn) }
  try {
    const registry = await registryWith(options.plugins ?? [], cwd)
    const parts = await registry.planShares(options.source, count, context)
    if (parts.length !== count) throw new HydratorError('ERR_PLUGIN', `the share planner of \`${redactUri(options.source)}\` made ${parts.length} shares where ${count} were asked for`)
    return sharesOf(redactUri(options.source), parts)
  } finally {
    for (const close of closers.reverse()) await close()
  }
}
