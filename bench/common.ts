import { pathToFileURL } from 'node:url'

/** One measured scenario: our time against a baseline measured in the same run. */
export interface BenchRow {
  scenario: string
  baselineMs: number
  ours: number
  ratio: number
  notes?: string
}

/** True when `moduleUrl` is the script node was started with (run directly, not imported). */
export function isMain(moduleUrl: string): boolean {
  return moduleUrl === pathToFileURL(process.argv[1] ?? '').href
}

/** `--events N` from the command line, or `fallback`. */
export function eventsArg(fallback: number): number {
  const i = process.argv.indexOf('--events')
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}

/** Prints rows as a Markdown table (the form bench/README.md records). */
export function printRows(rows: readonly BenchRow[]): void {
  const notes = rows.some((r) => r.notes)
  console.log(`| scenario | baseline | event-hydrator | ratio |${notes ? ' notes |' : ''}`)
  console.log(`|---|---:|---:|---:|${notes ? '---|' : ''}`)
  for (const r of rows) {
    console.log(`| ${r.scenario} | ${r.baselineMs.toFixed(0)} ms | ${r.ours.toFixed(0)} ms | ${r.ratio.toFixed(2)} |${notes ? ` ${r.notes ?? ''} |` : ''}`)
  }
}
