import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { HydratorError, errorMessage } from '../errors.js'
import { parseTagged, stringifyTagged } from '../util/tagged-json.js'
import { checkCheckpoint, writeCheckpoint, writeCheckpointSync, type Checkpoint, type CheckpointIdentity } from './record.js'
import { isAlive, type CheckpointLock } from './lock.js'
import type { CheckpointStore, StoredText } from './store.js'

/**
 * A run's hold on its checkpoint, wherever it is kept: what it resumes from, and the writes. Only
 * one run holds a checkpoint at a time; a write after the hold was lost (taken over) throws
 * ERR_CHECKPOINT_LOCKED and writes nothing.
 */
export interface CheckpointSession {
  /** The file path or store URI, for messages and the report. */
  readonly uri: string
  /** What the checkpoint held when the run took it: the run resumes after it. */
  readonly previous: Checkpoint | undefined
  /** Writes a checkpoint (also renewing a lease). */
  save(checkpoint: Checkpoint): Promise<void>
  /** The same, synchronously, where the storage allows it (the local file). */
  readonly saveSync?: (checkpoint: Checkpoint) => void
  /** Lets go of the checkpoint; safe to call twice. */
  release(): Promise<void>
  /** The same, synchronously, for `process.on('exit')` (local file only). */
  readonly releaseSync?: () => void
  /** Milliseconds after which a lease not renewed expires: writes must come more often. */
  readonly leaseMs?: number
}

/**
 * The local file: held with its `<file>.lock` (see `lockCheckpoint`), written atomically; the
 * lock is checked before every write.
 */
export function fileSession(file: string, lock: CheckpointLock | undefined, previous: Checkpoint | undefined, ownsLock = false): CheckpointSession {
  return {
    uri: file,
    previous,
    async save(checkpoint) {
      await lock?.verify()
      await writeCheckpoint(file, checkpoint)
    },
    saveSync(checkpoint) {
      lock?.verifySync()
      writeCheckpointSync(file, checkpoint)
    },
    async release() {
      if (ownsLock) await lock?.release()
    },
    releaseSync() {
      if (ownsLock) lock?.releaseSync()
    },
  }
}

/** Who runs a share, until when: kept in the checkpoint record of a {@link CheckpointStore}. */
export interface Lease {
  readonly token: string
  /** The machine: host name, and in AWS Lambda the sandbox (its log stream). */
  readonly host: string
  readonly pid: number
  readonly since: string
  /** ISO time after which another worker may take the share over. */
  readonly expiresAt: string
}

/** A checkpoint record in a store: the checkpoint (absent until the first write) and the lease. */
interface Stored extends Partial<Checkpoint> {
  readonly version: 1
  readonly identity: CheckpointIdentity
  readonly lease?: Lease
}

export interface StoreSessionOptions {
  /** How long a lease lasts without a write renewing it. @default 60000 */
  readonly leaseMs?: number
  /** The lease's end, as epoch ms, when it is fixed (a Lambda invocation's deadline). */
  readonly leaseUntil?: () => number
  /** The environment, for the machine's name in AWS Lambda (AWS_LAMBDA_LOG_STREAM_NAME). @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** The clock. @default Date.now */
  readonly now?: () => number
}

function machineName(env: Readonly<Record<string, string | undefined>>): string {
  const sandbox = env.AWS_LAMBDA_LOG_STREAM_NAME
  return sandbox ? `${hostname()}/${sandbox}` : hostname()
}


/** A store whose own errors (a custom store's) come out as HydratorErrors naming it. */
function wrapped(store: CheckpointStore): CheckpointStore {
  const named = (op: string) => (error: unknown) => {
    if (error instanceof HydratorError) throw error
    throw new HydratorError('ERR_CONNECTION', `the checkpoint ${store.uri}: ${op} failed: ${errorMessage(error)}`, { cause: error })
  }
  return {
    uri: store.uri,
    load: () => Promise.resolve().then(() => store.load()).catch(named('load')),
    save: (text, expected) => Promise.resolve().then(() => store.save(text, expected)).catch(named('save')),
  }
}

/** Leases held by sessions of this process: a lease naming this pid and machine but none of these is left over. */
const heldHere = new Set<string>()

/**
 * A lease that nobody can be holding any more: its process is gone from this machine, or it names
 * this very process (a pid reused after a restart, as in a Lambda sandbox) but no session here.
 */
function abandoned(lease: Lease, me: { host: string }): boolean {
  if (lease.host !== me.host) return false
  if (lease.pid === process.pid) return !heldHere.has(lease.token)
  return !isAlive(lease.pid)
}

const describeLease = (lease: Lease) => `process ${lease.pid} on ${lease.host} (since ${lease.since}) until ${lease.expiresAt}`

function parseStored(found: StoredText, where: string): Stored {
  let value: Stored
  try {
    value = parseTagged(found.text) as Stored
  } catch (error) {
    throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `--checkpoint ${where}: not a checkpoint (${errorMessage(error)})`)
  }
  if (value?.version !== 1 || !value.identity) throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `--checkpoint ${where}: not a checkpoint of this version`)
  return value
}

/**
 * Takes a checkpoint kept in a {@link CheckpointStore} for this run: loads it, checks it belongs to
 * this run, and writes a lease into it with a compare-and-set. A lease held by another worker and
 * not expired throws ERR_CHECKPOINT_LOCKED naming the holder and until when; one left by a process
 * that is gone from this machine is taken over at once. Every save renews the lease and is a
 * compare-and-set on the version the last one wrote: a worker whose lease was taken over gets
 * ERR_CHECKPOINT_LOCKED and writes nothing.
 */
export async function openStoreSession(given: CheckpointStore, identity: CheckpointIdentity, options: StoreSessionOptions = {}): Promise<CheckpointSession> {
  const store = wrapped(given)
  const where = store.uri
  const now = options.now ?? Date.now
  const leaseMs = options.leaseMs ?? 60_000
  const env = options.env ?? process.env
  const me = { token: randomBytes(8).toString('hex'), host: machineName(env), pid: process.pid, since: new Date(now()).toISOString() }
  const leaseNow = (): Lease => ({ ...me, expiresAt: new Date(options.leaseUntil?.() ?? now() + leaseMs).toISOString() })

  let version: string | undefined
  let previous: Checkpoint | undefined
  for (let attempt = 0; ; attempt++) {
    const found = await store.load()
    const stored = found ? parseStored(found, where) : undefined
    if (stored) checkCheckpoint(stored as Checkpoint, identity, where)
    const other = stored?.lease
    if (other && Date.parse(other.expiresAt) > now() && !abandoned(other, me)) {
      throw new HydratorError(
        'ERR_CHECKPOINT_LOCKED',
        `--checkpoint ${where} is in use by ${describeLease(other)}: only one worker may run a share at a time. ` +
          `Wait until the lease expires (a worker that died frees it then), or run another share.`,
      )
    }
    const record: Stored = { ...(stored ?? { version: 1, identity, complete: false }), lease: leaseNow() }
    const text = stringifyTagged(record)
    let written = await store.save(text, found?.version)
    if (written === undefined) {
      const again = await store.load()
      if (again?.text === text) written = again.version
    }
    if (written !== undefined) {
      version = written
      heldHere.add(me.token)
      // The record without its lease; one written before the first checkpoint (no totals) is no checkpoint yet.
      if (stored?.totals) {
        const { lease: _lease, ...checkpoint } = stored
        previous = checkpoint as Checkpoint
      }
      break
    }
    // Someone wrote between our load and save: look again (a few times), then give up.
    if (attempt >= 4) throw new HydratorError('ERR_CHECKPOINT_LOCKED', `--checkpoint ${where}: another worker keeps writing it; only one worker may run a share at a time`)
  }

  let released = false
  const lost = async (): Promise<never> => {
    const found = await store.load().catch(() => undefined)
    const other = found ? parseStored(found, where).lease : undefined
    throw new HydratorError(
      'ERR_CHECKPOINT_LOCKED',
      `lost the lease of --checkpoint ${where}${other && other.token !== me.token ? `: ${describeLease(other)} took it over` : ': it was written by another worker'}; stopping so that two workers never run one share`,
    )
  }
  return {
    uri: where,
    previous,
    leaseMs: options.leaseUntil ? undefined : leaseMs,
    async save(checkpoint) {
      if (released) return
      const text = stringifyTagged({ ...checkpoint, lease: leaseNow() })
      let written = await store.save(text, version)
      if (written === undefined) {
        // A write that landed but whose answer was lost (a retried request) reads back as ours.
        const found = await store.load().catch(() => undefined)
        if (found?.text === text) written = found.version
        else await lost()
      }
      version = written
    },
    async release() {
      if (released) return
      released = true
      heldHere.delete(me.token)
      const found = await store.load().catch(() => undefined)
      if (!found || found.version !== version) return
      const stored = parseStored(found, where)
      if (stored.lease?.token !== me.token) return
      const written = await store.save(stringifyTagged({ ...stored, lease: undefined }), version).catch(() => undefined)
      if (written !== undefined) version = written
    },
  }
}
