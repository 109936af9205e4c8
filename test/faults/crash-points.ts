// The harness of the crash-signals tests: a clean run of a CLI command, then, for SIGTERM and
// SIGKILL, runs of the same command signalled at random points (a seeded PRNG; CRASH_SEED replays
// them) and resumed from their checkpoint until they finish. Each sink says how to make a fresh
// target, when a run is under way, and what its target must hold afterwards.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import * as assert from 'uvu/assert'
import { runChild, type ChildRun } from './cli-child.js'
import { rng } from '../../bench/generate.js'

export type CrashSignal = 'SIGTERM' | 'SIGKILL'
export const SIGNALS: readonly CrashSignal[] = ['SIGTERM', 'SIGKILL']
/** Points per signal per sink. */
export const POINTS = process.env.FULL ? 4 : 2
/** The checkpoint interval of every run, in ms: checkpoints are written often. */
export const CHECKPOINT_INTERVAL_MS = 50
/** A signal goes at most this share of a clean run's busy time after the run is under way. */
const LATEST = 0.8

/** The seed of every point: CRASH_SEED, or a fresh one printed so a failure can be replayed. */
export const SEED = process.env.CRASH_SEED !== undefined ? Number(process.env.CRASH_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0

/** mulberry32, seeded with the seed and a salt, so each sink draws its own points whatever else runs. */
export function prng(seed: number, salt: string): () => number {
  let h = seed ^ 0x9e3779b9
  for (const c of salt) h = Math.imul(h ^ c.charCodeAt(0), 0x5bd1e995) >>> 0
  return rng(h)
}

/** What one crash point did, for the sink's own checks. */
export interface CrashPoint {
  readonly signal: CrashSignal
  /** The point's number within its signal: 0, 1, ... */
  readonly index: number
  /** Names the point, the seed and the delay: the prefix of every assertion message. */
  readonly label: string
  /** The run finished before the signal reached it: nothing was interrupted. */
  readonly trivial: boolean
  /** The interrupted run. */
  readonly first: ChildRun
  /** Exit codes of the resumed rounds. */
  readonly rounds: readonly number[]
}

/** One sink under test. */
export interface CrashScenario<Target, Snapshot> {
  /** e.g. `PostgreSQL upsert` */
  readonly name: string
  /** A fresh, empty target for one run (a table, a file path, a reset handler). */
  fresh(id: string): Promise<Target>
  /** The CLI arguments, without --checkpoint, --checkpoint-interval and --report-file. */
  args(target: Target): string[]
  /** True once the run has visibly started writing to the target. */
  underWay(target: Target): Promise<boolean>
  /** What the target holds, in a form `verify` compares. */
  snapshot(target: Target): Promise<Snapshot>
  /** Asserts what the target must hold after a crash point, compared with the clean run's. */
  verify(expected: Snapshot, got: Snapshot, point: CrashPoint): void | Promise<void>
}

interface Report {
  status: string
  source?: { read?: number; startedAt?: unknown }
  sink?: { written?: number; skipped?: number; failed?: number }
  error?: { code?: string; message?: string }
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T
  } catch {
    return undefined
  }
}

function describeRun(run: ChildRun): string {
  const tail = run.stderr.trim().split('\n').slice(-6).join('\n    ')
  return `exit ${run.code}${run.signal ? ` (${run.signal})` : ''} after ${Math.round(run.exitMs)} ms${tail ? `; stderr:\n    ${tail}` : ''}`
}

/**
 * Runs the scenario: one clean run, then POINTS points per signal, each in a fresh target, checked
 * against the clean run by `verify`. Asserts, for every point: a SIGTERM-ed run exits 130 with a
 * report saying `aborted`; the checkpoint after the interrupted run is not complete; the resumed
 * runs finish within 5 rounds and the final round's report says `ok`. A point that came after the
 * run finished passes trivially and says so; it is tried again at half the delay (twice at most),
 * and at least 3 in 4 points must really interrupt a run.
 */
export async function crashPoints<Target, Snapshot>(dir: string, scenario: CrashScenario<Target, Snapshot>): Promise<CrashPoint[]> {
  const began = performance.now()
  const slug = scenario.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')
  const files = (id: string) => ({ checkpoint: path.join(dir, `${slug}-${id}.ckpt`), report: (round: number) => path.join(dir, `${slug}-${id}-report-${round}.json`) })
  const command = (target: Target, checkpoint: string, report: string) => [
    ...scenario.args(target),
    '--checkpoint',
    checkpoint,
    '--checkpoint-interval',
    String(CHECKPOINT_INTERVAL_MS),
    '--report-file',
    report,
  ]

  // The clean run: the expected target, and how long the run is busy once under way.
  const cleanTarget = await scenario.fresh('clean')
  const cleanFiles = files('clean')
  const clean = await runChild(command(cleanTarget, cleanFiles.checkpoint, cleanFiles.report(0)), { underWay: () => scenario.underWay(cleanTarget) })
  assert.is(clean.code, 0, `${scenario.name}: the clean run succeeds: ${describeRun(clean)}`)
  const cleanReport = await readJson<Report>(cleanFiles.report(0))
  assert.is(cleanReport?.status, 'ok', `${scenario.name}: the clean run's report says ok`)
  assert.ok(clean.underWayMs !== undefined, `${scenario.name}: the clean run was seen under way`)
  const busyMs = clean.exitMs - clean.underWayMs!
  const expected = await scenario.snapshot(cleanTarget)
  console.log(`  ${scenario.name}: clean run ${Math.round(clean.exitMs)} ms, under way after ${Math.round(clean.underWayMs!)} ms (busy ${Math.round(busyMs)} ms); CRASH_SEED=${SEED}`)

  // One point: a fresh target, a run signalled `delayMs` after it is under way, resumed rounds.
  const onePoint = async (signal: CrashSignal, p: number, attempt: number, share: number): Promise<CrashPoint> => {
    const delayMs = Math.round(share * busyMs)
    const id = `${signal.toLowerCase()}-${p}${attempt > 0 ? `-earlier-${attempt}` : ''}`
    const label = `${scenario.name}, ${signal} #${p}${attempt > 0 ? ` (earlier, try ${attempt + 1})` : ''} (CRASH_SEED=${SEED}: ${delayMs} ms after under way, ${share.toFixed(3)} of the clean run's ${Math.round(busyMs)} ms)`
    const target = await scenario.fresh(id)
    const f = files(id)
    const args = (round: number) => command(target, f.checkpoint, f.report(round))

    const first = await runChild(args(0), { underWay: () => scenario.underWay(target), send: signal, delayMs })
    const saved = await readJson<{ complete?: boolean }>(f.checkpoint)
    // The run may end before the signal reaches it (even before a probe saw it under way): then
    // nothing was interrupted.
    const trivial = !first.signalled || (saved?.complete === true && (first.code === 0 || signal === 'SIGKILL'))
    const rounds: number[] = []
    if (!trivial) {
      if (signal === 'SIGTERM') {
        assert.is(first.code, 130, `${label}: the signalled run exits 130: ${describeRun(first)}`)
        const report = await readJson<Report>(f.report(0))
        assert.is(report?.status, 'aborted', `${label}: the signalled run's report says aborted`)
      } else {
        assert.is(first.signal, 'SIGKILL', `${label}: the run was killed: ${describeRun(first)}`)
      }
      assert.is(saved?.complete ?? false, false, `${label}: the checkpoint after the interrupted run is not complete`)
      let last: ChildRun | undefined
      for (let round = 1; round <= 5 && (last === undefined || last.code !== 0); round++) {
        last = await runChild(args(round))
        rounds.push(last.code)
      }
      assert.is(last!.code, 0, `${label}: a resumed run finishes within 5 rounds (exit codes ${rounds.join(', ')}): ${describeRun(last!)}`)
      const report = await readJson<Report>(f.report(rounds.length))
      assert.ok(report, `${label}: the final round (${rounds.length}) wrote its report (exit codes ${rounds.join(', ')}): ${describeRun(last!)}`)
      assert.is(report!.status, 'ok', `${label}: the final round's report says ok, not ${report!.status} (${JSON.stringify(report!.error ?? {})})`)
      const done = await readJson<{ complete?: boolean }>(f.checkpoint)
      assert.is(done?.complete, true, `${label}: the checkpoint is complete at the end`)
    } else {
      assert.is(first.code === 0 || first.signal === 'SIGKILL', true, `${label}: a run the signal missed still finished: ${describeRun(first)}`)
      assert.is(saved?.complete, true, `${label}: a run that finished before the signal left a complete checkpoint: ${describeRun(first)}`)
    }
    console.log(
      `  ${label}: ${
        trivial
          ? `the run had already finished: a trivial point (${first.signalled ? `signalled at ${Math.round(first.signalMs!)} ms` : 'not signalled'}, ${first.underWayMs === undefined ? 'never seen under way' : `under way at ${Math.round(first.underWayMs)} ms`}, ${describeRun(first).split(';')[0]})`
          : `interrupted at ${Math.round(first.signalMs!)} ms, ${describeRun(first).split(';')[0]}, resumed in ${rounds.length} round(s)`
      }`,
    )
    const point: CrashPoint = { signal, index: p, label, trivial, first, rounds }
    await scenario.verify(expected, await scenario.snapshot(target), point)
    return point
  }

  const random = prng(SEED, scenario.name)
  const points: CrashPoint[] = []
  const failures: string[] = []
  for (const signal of SIGNALS) {
    for (let p = 0; p < POINTS; p++) {
      const share = random() * LATEST
      // Runs vary in speed (other processes share the CPUs): a point that came after the run
      // finished is tried again at half the delay, twice at most.
      let point: CrashPoint | undefined
      try {
        for (let attempt = 0; attempt < 3 && (point === undefined || point.trivial); attempt++) point = await onePoint(signal, p, attempt, share / 2 ** attempt)
        points.push(point!)
      } catch (error) {
        // Every point runs, so one failure report shows them all.
        const message = (error as Error)?.message ?? String(error)
        console.log(`  FAILED: ${message}`)
        failures.push(message)
      }
    }
  }
  if (failures.length > 0) {
    assert.unreachable(`${scenario.name}: ${failures.length} of ${SIGNALS.length * POINTS} points failed (CRASH_SEED=${SEED}):\n    - ${failures.join('\n    - ')}`)
  }
  const interrupted = points.filter((p) => !p.trivial).length
  assert.ok(
    interrupted * 4 >= points.length * 3,
    `${scenario.name} (CRASH_SEED=${SEED}): only ${interrupted} of ${points.length} points interrupted a run; the others came after it finished, so the test proves little`,
  )
  console.log(`  ${scenario.name}: ${interrupted} of ${points.length} points interrupted, ${((performance.now() - began) / 1000).toFixed(1)} s in all`)
  return points
}

/** Counts of each value in a list of strings: a multiset. */
export function multiset(values: Iterable<string>): Map<string, number> {
  const m = new Map<string, number>()
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1)
  return m
}

/**
 * Compares two lists of keyed rows (key -> row as text): a short summary of what is missing, extra
 * or different, with a few examples; '' when they are equal. Keeps assertion messages small.
 */
export function diffRows(expected: Map<string, string>, got: Map<string, string>): string {
  const missing: string[] = []
  const extra: string[] = []
  const different: string[] = []
  for (const [k, v] of expected) {
    if (!got.has(k)) missing.push(k)
    else if (got.get(k) !== v) different.push(`${k}: expected ${v}, got ${got.get(k)}`)
  }
  for (const k of got.keys()) if (!expected.has(k)) extra.push(k)
  if (missing.length + extra.length + different.length === 0) return ''
  const few = (list: string[]) => list.slice(0, 5).join('; ') + (list.length > 5 ? '; ...' : '')
  return [
    missing.length ? `${missing.length} missing (${few(missing)})` : '',
    extra.length ? `${extra.length} unexpected (${few(extra)})` : '',
    different.length ? `${different.length} different (${few(different)})` : '',
  ]
    .filter(Boolean)
    .join(', ')
}
