import { createWriteStream } from 'node:fs'
import { once } from 'node:events'

/** Sources and detail-types of the generated events; `orders`/`OrderPlaced` is about 1 in 6. */
export const SOURCES = ['orders', 'users', 'payments'] as const
export const TYPES: Record<(typeof SOURCES)[number], readonly string[]> = {
  orders: ['OrderPlaced', 'OrderShipped'],
  users: ['UserCreated', 'UserRenamed', 'UserDeleted'],
  payments: ['PaymentCaptured'],
}

/** A deterministic PRNG (mulberry32), so every run generates the same events. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * The i-th generated EventBridge-shaped event (about 350 bytes): a mix of sources and
 * detail-types, an aggregate id and a per-aggregate version in detail.
 */
export function makeEvent(i: number, random: () => number, aggregates = 1000): Record<string, unknown> {
  const source = SOURCES[Math.floor(random() * 3)]!
  const types = TYPES[source]
  const type = types[Math.floor(random() * types.length)]!
  const agg = Math.floor(random() * aggregates)
  return {
    version: '0',
    id: `0a1b2c3d-${String(i).padStart(8, '0')}-4e5f-8a9b-${(agg * 7919).toString(16).padStart(12, '0')}`,
    'detail-type': type,
    source,
    account: '123456789012',
    time: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString().replace('.000Z', 'Z'),
    region: 'eu-west-1',
    resources: [],
    detail: {
      aggregateId: `${source.slice(0, -1)}-${agg}`,
      version: i,
      name: `name ${agg} ${Math.floor(random() * 1e6)}`,
      amount: Math.round(random() * 100000) / 100,
      tags: ['a', 'b'],
    },
  }
}

/** Writes `count` events as NDJSON (or one JSON array with `array`) to `file`. */
export async function generateFile(file: string, count: number, { array = false, seed = 42 } = {}): Promise<void> {
  const random = rng(seed)
  const out = createWriteStream(file, { highWaterMark: 1 << 20 })
  let chunk = array ? '[\n' : ''
  for (let i = 0; i < count; i++) {
    chunk += JSON.stringify(makeEvent(i, random)) + (array ? (i < count - 1 ? ',\n' : '\n') : '\n')
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain')
      chunk = ''
    }
  }
  if (array) chunk += ']\n'
  out.write(chunk)
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file = 'events.ndjson', count = '1000', kind] = process.argv.slice(2)
  await generateFile(file, Number(count), { array: kind === 'array' })
  console.error(`wrote ${count} events to ${file}`)
}
