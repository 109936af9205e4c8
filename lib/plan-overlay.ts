// What a dry run has planned per key, so later writes of a key are judged against it.
/**
 * The planned state of the keys a dry run has planned (exists, version), so a key planned again is
 * judged against the earlier planned write rather than the target's unchanged state. Bounded: past
 * `maxKeys` it forgets the oldest keys and the plan is no longer exact (`exact` turns false).
 *
 * @example
 * const overlay = new PlanOverlay<{ exists: boolean; version?: number }>()
 * const state = overlay.get(key) ?? await readFromTarget(key)
 */
export class PlanOverlay<S> {
  readonly #states = new Map<string, S>()
  #forgot = false
  constructor(readonly maxKeys = 1_000_000) {}

  get exact(): boolean {
    return !this.#forgot
  }

  get(key: string): S | undefined {
    return this.#states.get(key)
  }

  /** Whether the key was planned (its planned state may be undefined: deleted). */
  has(key: string): boolean {
    return this.#states.has(key)
  }

  set(key: string, state: S): void {
    this.#states.delete(key)
    this.#states.set(key, state)
    if (this.#states.size > this.maxKeys) {
      this.#states.delete(this.#states.keys().next().value as string)
      this.#forgot = true
    }
  }
}
