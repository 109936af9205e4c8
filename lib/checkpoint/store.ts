/**
 * A checkpoint in storage, as text, with the version the store gave it: what a
 * {@link CheckpointStore} loads, and what its compare-and-set compares.
 */
export interface StoredText {
  /** The checkpoint record as the run wrote it (JSON text). */
  readonly text: string
  /** The store's version of it: an ETag, a revision number; compared by {@link CheckpointStore.save}. */
  readonly version: string
}

/**
 * Where a run keeps its checkpoint, beyond the local file: one record per run (and share), read and
 * written whole, with a compare-and-set so that a worker whose lease was taken over can never
 * overwrite progress. Stores keep text and know nothing of what it means; the lease (who runs this
 * share, until when) is part of the text and handled by event-hydrator.
 *
 * Built in: `dynamo:table/run-id` (an item in any table whose partition key is a string) and
 * `s3://bucket/key` (an object, with If-Match / If-None-Match). Custom stores register through a
 * plugin's `checkpoints`, like sources and sinks.
 *
 * @example
 * const memory = new Map<string, StoredText>()
 * const store: CheckpointStore = {
 *   uri: 'memory:run-1',
 *   async load() { return memory.get('run-1') },
 *   async save(text, expected) {
 *     if (memory.get('run-1')?.version !== expected) return undefined
 *     const version = String(Number(expected ?? 0) + 1)
 *     memory.set('run-1', { text, version })
 *     return version
 *   },
 * }
 */
export interface CheckpointStore {
  /** Where it is, for messages and the report; never a secret. */
  readonly uri: string
  /**
   * The stored record, or undefined when there is none. Throws a HydratorError when the store
   * cannot be reached or denies access (ERR_AUTH, ERR_TARGET_NOT_FOUND, ERR_CONNECTION), naming it.
   */
  load(): Promise<StoredText | undefined>
  /**
   * Writes `text` only if the stored version is still `expected` (`undefined`: only if no record
   * exists yet). Resolves with the new version, or with `undefined` when the compare failed
   * (someone else wrote meanwhile): nothing was written then.
   */
  save(text: string, expected: string | undefined): Promise<string | undefined>
  /** Deletes the record if its version is still `expected` (for `--restart` and tests); optional. */
  remove?(expected: string): Promise<boolean>
  /** Closes clients the store opened. */
  close?(): Promise<void>
}

