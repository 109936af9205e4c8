import type { ItemFailure } from '../types.js'

/** How many failure samples a report keeps; the dead-letter file keeps them all. */
export const DEFAULT_SAMPLE_LIMIT = 100

/** A capped list of failure samples: memory stays flat however many events fail. */
export class FailureSamples {
  readonly samples: ItemFailure[] = []
  count = 0

  constructor(readonly limit = DEFAULT_SAMPLE_LIMIT) {}

  add(failure: ItemFailure): void {
    this.count++
    if (this.samples.length < this.limit) this.samples.push(failure)
  }
}
