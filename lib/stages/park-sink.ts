import type { FailedKey, ItemFailure, SinkParking } from '../types.js'
import { parkKey } from '../park.js'
import { positionOf } from '../position.js'
import { capText } from '../util/text.js'

/**
 * The sink's side of parking (see lib/park.ts): what `defineSink` asks before it sends a batch,
 * and what a driver that starts writes itself asks before each write.
 */

/** An event of a batch as parking sees it. */
export interface ParkItem {
  readonly event: unknown
  /** Its index in the order the sink received events. */
  readonly seq: number
  /** Its parking key, if it has one. */
  readonly key: string | undefined
}

/**
 * Parking for a driver that starts writes itself (`DriverContext.parking`): right before write
 * `index` of the batch starts, `parked(index)` says whether an earlier event of its key failed
 * (then resolve it as `{ status: 'parked' }` without sending it); `failed(index)` marks its key
 * failed as soon as the write failed (or will), before a later write of the key starts.
 */
export interface BatchParking {
  parked(index: number): boolean
  failed(index: number): void
}

/** What parking needs to know of a sink driver (`SinkDriver` in lib/define-sink.ts). */
export interface ParkingDriver<W> {
  keyOf?(write: W): string | undefined
  orderKeyOf?(write: W): string | undefined
  readonly collapsesByKey?: boolean
  readonly parksInBatch?: boolean
}

/**
 * The sink's side of parking, for `defineSink`: each event's key (the driver's lanes key, else the
 * run's `orderKey`, else the driver's `keyOf`), where batches split so that no write of a key is
 * sent while one of that key may still fail, which events of a batch are parked, and the
 * dead-letter entry of a parked one.
 *
 * @example
 * const parker = context.parking ? new SinkParker(context.parking, driver, 'postgres') : undefined
 */
export class SinkParker<W> {
  /** The driver keeps per-key order itself (lanes): it asks before each write starts. */
  readonly byLanes: boolean
  /** A batch holds one event per key, and waits for a batch in flight with its key. */
  readonly splitsAtKey: boolean
  readonly #batchKeys = new Set<string>()

  constructor(
    readonly parking: SinkParking,
    readonly driver: ParkingDriver<W>,
    readonly stage: string,
  ) {
    this.byLanes = driver.orderKeyOf !== undefined
    // Same-key writes of a batch that the driver collapses by this very key cannot apply in part.
    // So can a driver that parks within its batches itself (PostgreSQL append's row-by-row fallback).
    this.splitsAtKey = !this.byLanes && !(driver.collapsesByKey && !parking.byOrderKey) && !driver.parksInBatch
  }

  keyOf(event: unknown, write: W): string | undefined {
    const lanes = parkKey(this.driver.orderKeyOf?.(write))
    if (lanes !== undefined) return lanes
    return this.parking.byOrderKey ? this.parking.keyOfEvent(event) : parkKey(this.driver.keyOf?.(write))
  }

  /**
   * Keeps the batch apart from batches in flight with an event of the same key. Only a key by
   * `orderKey` needs one: batches that share a driver's `keyOf` key never overlap anyway.
   */
  separationKey(item: ParkItem): string | undefined {
    return this.splitsAtKey && this.parking.byOrderKey && item.key !== undefined ? `\u0001${item.key}` : undefined
  }

  /** True when the batch being filled holds an event of `key` already: it must be sent first. */
  holds(key: string | undefined): boolean {
    return this.splitsAtKey && key !== undefined && this.#batchKeys.has(key)
  }

  /** The batch being filled took an event of `key`. */
  add(key: string | undefined): void {
    if (this.splitsAtKey && key !== undefined) this.#batchKeys.add(key)
  }

  /** The batch being filled was sent. */
  sent(): void {
    this.#batchKeys.clear()
  }

  behind(item: ParkItem): FailedKey | undefined {
    return this.parking.behind(item.key, item.seq)
  }

  /**
   * True when a parked item of the batch waits behind a failure not reported yet (lanes may finish
   * them in either order; one in this very batch is reported first by the caller): `retry` runs
   * once it is.
   */
  deferred(items: readonly ParkItem[], parked: (index: number) => boolean, retry: () => void): boolean {
    for (let i = 0; i < items.length; i++) {
      if (!parked(i)) continue
      const behind = this.behind(items[i]!)
      if (behind && !behind.noted && !items.some((p) => p.seq === behind.seq)) {
        behind.waiting.push(retry)
        return true
      }
    }
    return false
  }

  /** The item failed: its key is failed from now on; the fields its failure entry adds. */
  failed(item: ParkItem): { orderKey?: string } {
    this.parking.fail(item.key, item.seq, item.event)
    return item.key !== undefined ? { orderKey: item.key } : {}
  }

  /** These failures were reported: what waits parked behind them may settle. */
  noted(items: readonly ParkItem[]): void {
    for (const item of items) this.parking.noted(item.key, item.seq)
  }

  /** The failure entry of a parked item (counted as parked). */
  parkedFailure(item: ParkItem, behind: FailedKey): ItemFailure {
    this.parking.parkedOne(behind.key)
    const what = behind.behind.id !== undefined ? `event ${JSON.stringify(behind.behind.id)}` : 'an earlier event'
    const position = positionOf(item.event)
    return {
      stage: this.stage,
      ...(position ? { position } : {}),
      code: 'ERR_PARKED',
      message: capText(`not sent: ${what} of key ${capText(JSON.stringify(behind.key), 200)} failed before it; parked behind it`),
      orderKey: behind.key,
      parkedBehind: behind.behind,
    }
  }

  /** The items of a batch about to be sent that are parked (decided once the batches before it settled). */
  parkedOf<T extends ParkItem>(items: readonly T[]): T[] {
    // A driver with lanes decides as each write starts: its lanes settle a key's events in order,
    // and one parked here could overtake those of its key still waiting in a lane.
    return this.byLanes ? [] : items.filter((p) => this.behind(p) !== undefined)
  }

  /** The driver's view of parking for the writes of a batch, in order. */
  forBatch(items: readonly ParkItem[]): BatchParking {
    return {
      parked: (i) => this.behind(items[i]!) !== undefined,
      failed: (i) => void this.parking.fail(items[i]!.key, items[i]!.seq, items[i]!.event),
    }
  }

  /** The driver could not prepare the write of an event: by `orderKey` its key is known all the same. */
  preparedFailed(event: unknown, seq: number): string | undefined {
    const key = this.parking.byOrderKey ? this.parking.keyOfEvent(event) : undefined
    this.parking.fail(key, seq, event)
    return key
  }
}
