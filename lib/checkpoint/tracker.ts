import { isResumePoint, positionOf } from '../position.js'
import type { Outcome, Position } from '../types.js'

export type { CheckpointTotals } from '../report/schema.js'
import type { CheckpointTotals } from '../report/schema.js'

/** How the sink ended with one event, as `onSettled` reports it. */
export interface SettledEvent {
  readonly status: Outcome
  /** What the sink needs to resume exactly just after this event (the NDJSON sink: its byte length). */
  readonly state?: unknown
}

/** The source's counters at the moment an event was read. */
export interface SourceCounters {
  readonly prefiltered: number
  readonly failed: number
}

type Kind = 'event' | 'stage' | 'source'

interface Entry {
  /** Where a resume starts after this entry; undefined: it may hold the mark back but never be it. */
  readonly position: Position | undefined
  /** Its place in the stream: the index of the event read (x.5 for a record between two events). */
  readonly seq: number
  readonly kind: Kind
  /** Lines the prefilter skipped before it. */
  readonly prefiltered: number
  settled: boolean
  /** It failed: it counts as handled only once it is stored in the dead-letter file. */
  failed: boolean
  stored: boolean
  status: Outcome | undefined
  state: unknown
}

interface Read {
  readonly position: Position | undefined
  readonly seq: number
  readonly prefiltered: number
}

const ZERO: CheckpointTotals = Object.freeze({ read: 0, matched: 0, unmatched: 0, written: 0, skipped: 0, failed: 0, sourceFailed: 0 })

/**
 * Tracks the low-water mark: the position up to which every event read has been fully handled,
 * correct with batches and writes in flight. An event is handled when the sink settled it (written
 * or skipped), when a filter dropped it, or when it failed and is stored in the dead-letter file.
 * A failure that is not stored holds the mark before it for good: a resume reads it again, so a
 * checkpoint never passes an event that was neither applied nor dead-lettered.
 *
 * The tracker also keeps the totals at the mark (what a resume must not count again) and the sink's
 * resume state at the mark. Memory holds only the events in flight; after a failure that will never
 * be stored, later events are not tracked at all.
 */
export class CheckpointTracker {
  #queue: Entry[] = []
  #head = 0
  readonly #byEvent = new Map<object, Entry[]>()
  #seq = -1
  #current: Read | undefined
  #lastPassed: Read | undefined
  #mark: Position | undefined
  #markSeq = -1
  #state: unknown
  #hasState = false
  #totals: CheckpointTotals = { ...ZERO }
  #heldForGood = 0
  #pendingStores = 0
  /** A failure will never be stored: the mark cannot pass it, so later events need no tracking. */
  #frozen = false

  /**
   * @param inferDrops true when every stage passes or drops each event before the next is read
   *   (filter, map, take, tap): an event not received by the sink by then was dropped. False when a
   *   stage may hold events back (batch, custom stages): only settled events move the mark.
   * @param storesFailures true when failures go to a dead-letter file (see {@link failed}).
   */
  constructor(
    readonly inferDrops: boolean,
    readonly storesFailures = false,
  ) {}

  /** The low-water mark. */
  get position(): Position | undefined {
    return this.#mark
  }

  /** The sink's resume state at the mark (the state it reported with the last settled event up to it). */
  get sinkState(): unknown {
    return this.#state
  }

  get hasSinkState(): boolean {
    return this.#hasState
  }

  /** Totals of everything up to the mark. */
  get totals(): CheckpointTotals {
    return { ...this.#totals }
  }

  /** Failures that hold the mark for good (no dead-letter file, or storing them failed). */
  get heldForGood(): number {
    return this.#heldForGood
  }

  /** True when nothing received is unsettled and no failure holds the mark. */
  get idle(): boolean {
    return this.#head === this.#queue.length && this.#heldForGood === 0 && this.#pendingStores === 0
  }

  /**
   * The source yielded `event`: the one read before it has moved past every stage (in `inferDrops`
   * mode). `counters` are the source's own at this moment, for the totals.
   */
  read(event: unknown, counters?: SourceCounters): void {
    if (this.#current) this.passed()
    this.#seq++
    this.#current = { position: positionOf(event), seq: this.#seq, prefiltered: counters?.prefiltered ?? 0 }
  }

  /** The event read last has moved past every stage (done by {@link read} for the one before). */
  passed(): void {
    const current = this.#current
    if (!current || !this.inferDrops) return
    this.#current = undefined
    this.#lastPassed = current
    if (this.#head === this.#queue.length && this.#heldForGood === 0 && this.#pendingStores === 0) this.#passMark(current)
  }

  /** The sink is about to receive this event. */
  received(event: unknown): void {
    if (this.#frozen || typeof event !== 'object' || event === null) return
    const seq = this.inferDrops && this.#current ? this.#current.seq : this.#seq
    const entry = this.#push(positionOf(event), seq, 'event', this.#current?.prefiltered ?? 0)
    const list = this.#byEvent.get(event)
    if (list) list.push(entry)
    else this.#byEvent.set(event, [entry])
  }

  /**
   * The sink failed this (received) event; `stored` settles once it is in the dead-letter file.
   * Call before {@link settled} for the same event.
   */
  failed(event: unknown, stored: Promise<unknown> | undefined): void {
    if (typeof event !== 'object' || event === null) return
    const entry = this.#byEvent.get(event)?.find((e) => !e.settled && !e.failed)
    if (entry) this.#fail(entry, stored)
    else if (this.#frozen) this.#failLater(stored)
  }

  /** A stage failed the event read last (a transform that threw): it never reaches the sink. */
  stageFailed(stored: Promise<unknown> | undefined): void {
    if (this.#frozen) return this.#failLater(stored)
    const current = this.#current
    const position = this.inferDrops ? current?.position : undefined
    const entry = this.#push(position, current?.seq ?? this.#seq, 'stage', current?.prefiltered ?? 0)
    entry.settled = true
    this.#fail(entry, stored)
  }

  /** The source could not read a record (not JSON, ...) after the event read last. */
  sourceFailed(position: Position | undefined, prefiltered: number, stored: Promise<unknown> | undefined): void {
    if (this.#frozen) return this.#failLater(stored)
    // A record's position is a resume point only where the source gives one (NDJSON lines: `next`;
    // array elements and files: `index`); otherwise the event before it stays the mark.
    const resumable = isResumePoint(position) ? position : undefined
    const entry = this.#push(this.inferDrops ? resumable : undefined, this.#seq + 0.5, 'source', prefiltered)
    entry.settled = true
    this.#fail(entry, stored)
  }

  /** The sink has finished with these events; `outcomes` (in the same order) say how. */
  settled(events: readonly unknown[], outcomes?: readonly (SettledEvent | undefined)[]): void {
    for (let i = 0; i < events.length; i++) {
      const event = events[i]
      if (typeof event !== 'object' || event === null) continue
      const list = this.#byEvent.get(event)
      const entry = list?.shift()
      if (!entry) continue
      if (list!.length === 0) this.#byEvent.delete(event)
      entry.settled = true
      const outcome = outcomes?.[i]
      entry.status = entry.failed ? 'failed' : (outcome?.status ?? 'written')
      if (outcome && 'state' in outcome && outcome.state !== undefined) entry.state = outcome.state
    }
    this.#advance()
  }

  #push(position: Position | undefined, seq: number, kind: Kind, prefiltered: number): Entry {
    const entry: Entry = { position, seq, kind, prefiltered, settled: false, failed: false, stored: false, status: undefined, state: undefined }
    this.#queue.push(entry)
    return entry
  }

  /** A failure after the mark was frozen: it changes nothing but the count of failures held. */
  #failLater(stored: Promise<unknown> | undefined): void {
    if (!stored) this.#heldForGood++
    else stored.then(undefined, () => this.#heldForGood++)
  }

  #fail(entry: Entry, stored: Promise<unknown> | undefined): void {
    entry.failed = true
    entry.status = 'failed'
    if (!stored) {
      this.#heldForGood++
      this.#frozen = true
      return
    }
    this.#pendingStores++
    stored.then(
      () => {
        this.#pendingStores--
        entry.stored = true
        this.#advance()
      },
      () => {
        this.#pendingStores--
        this.#heldForGood++
        this.#frozen = true
      },
    )
  }

  #advance(): void {
    while (this.#head < this.#queue.length) {
      const entry = this.#queue[this.#head]!
      if (!entry.settled || (entry.failed && !entry.stored)) break
      this.#count(entry)
      if (entry.position && entry.seq >= this.#markSeq) {
        this.#mark = entry.position
        this.#markSeq = entry.seq
        this.#setRead(entry.seq, entry.prefiltered)
      }
      this.#head++
    }
    if (this.#head === this.#queue.length) {
      this.#queue = []
      this.#head = 0
      // Everything that reached the sink is handled, and every event read before the current one
      // has passed the stages: the last of those is handled too.
      if (this.#lastPassed && this.#heldForGood === 0 && this.#pendingStores === 0) this.#passMark(this.#lastPassed)
    } else if (this.#head > 4096) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  #passMark(read: Read): void {
    if (!read.position || read.seq < this.#markSeq) return
    this.#mark = read.position
    this.#markSeq = read.seq
    this.#setRead(read.seq, read.prefiltered)
  }

  #count(entry: Entry): void {
    const t = this.#totals
    if (entry.kind === 'source') {
      t.sourceFailed++
      return
    }
    t.matched++
    if (entry.status === 'skipped') t.skipped++
    else if (entry.status === 'failed') t.failed++
    else t.written++
    if (entry.state !== undefined) {
      this.#state = entry.state
      this.#hasState = true
    }
  }

  #setRead(seq: number, prefiltered: number): void {
    const t = this.#totals
    // Without inferred drops the place of a received event in the source is unknown: count only
    // what reached the sink (the totals are exact when every stage is a filter, map, take or tap).
    t.read = this.inferDrops ? Math.floor(seq) + 1 + prefiltered : t.matched
    t.unmatched = Math.max(0, t.read - t.matched)
  }
}
