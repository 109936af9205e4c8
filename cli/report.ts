import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { CommandModule } from 'yargs'
import { HydratorError, errorMessage } from '../lib/errors.js'
import { formatReport } from '../lib/report/format.js'
import { mergeReports } from '../lib/report/merge.js'
import type { RunReport } from '../lib/report/report.js'
import { reportProblems } from '../lib/report/validate.js'
import { capText } from '../lib/util/text.js'
import { stringifyTagged } from '../lib/util/tagged-json.js'
import { EXIT, type CliIo } from './io.js'

/** A report read from a file, and how messages name it: `a.json`, `all.json[2]`, `runs.ndjson:3`. */
interface NamedReport {
  readonly report: RunReport
  readonly name: string
}

async function readText(file: string, io: CliIo): Promise<string> {
  try {
    return await readFile(path.resolve(io.cwd, file), 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new HydratorError('ERR_FILE_NOT_FOUND', `report merge: cannot find \`${file}\``)
    throw new HydratorError('ERR_FILE_NOT_FOUND', `report merge: cannot read \`${file}\`: ${code ?? errorMessage(error)}`, { cause: error })
  }
}

const notJson = (name: string, error: unknown) => new HydratorError('ERR_INVALID_OPTION', `report merge: ${name}: not valid JSON: ${capText(errorMessage(error), 200)}`)

/**
 * The JSON values of a report file: one JSON document (a report as `--report json` prints it, or an
 * array of reports), or NDJSON (one report per line), told apart by whether the whole text parses.
 */
function parseValues(text: string, file: string): { value: unknown; name: string }[] {
  text = text.replace(/^\uFEFF/, '')
  if (text.trim() === '') throw new HydratorError('ERR_INVALID_OPTION', `report merge: ${file}: empty, expected a run report as JSON`)
  try {
    return [{ value: JSON.parse(text), name: file }]
  } catch (error) {
    const lines = text.split('\n')
    const first = lines.findIndex((line) => line.trim() !== '')
    // A pretty-printed document that is broken somewhere: its first line alone is not JSON either.
    try {
      JSON.parse(lines[first]!)
    } catch {
      throw notJson(file, error)
    }
    const values: { value: unknown; name: string }[] = []
    lines.forEach((line, i) => {
      if (line.trim() === '') return
      try {
        values.push({ value: JSON.parse(line), name: `${file}:${i + 1}` })
      } catch (lineError) {
        throw notJson(`${file}:${i + 1}`, lineError)
      }
    })
    return values
  }
}

/** Deeper than any report the engine writes, and shallow enough to print without overflowing the stack. */
const MAX_DEPTH = 500

/** True when `value` nests arrays and objects deeper than `max` levels (checked without recursion). */
function tooDeep(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (v === null || typeof v !== 'object') continue
    if (depth >= max) return true
    for (const child of Object.values(v)) stack.push([child, depth + 1])
  }
  return false
}

/** A Lambda handler's result `{ done, share, checkpoint, report }` is its report; the share it names fills in a report that lacks one. */
function unwrap(value: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value) || 'status' in value) return value
  const { report, share } = value as { report?: unknown; share?: { plan?: unknown; index?: unknown; count?: unknown } }
  if (!report || typeof report !== 'object' || Array.isArray(report)) return value
  if ('share' in report || !share || typeof share !== 'object') return report
  const { plan, index, count } = share
  if (typeof plan !== 'string' || !Number.isInteger(index) || !Number.isInteger(count)) return report
  return { ...report, share: { plan, index, count } }
}

/** Every report in a file, each checked against the report's schema; exit 2 (a config error) naming the place of the first bad one. */
export async function readReports(file: string, io: CliIo): Promise<NamedReport[]> {
  const out: NamedReport[] = []
  for (const { value, name } of parseValues(await readText(file, io), file)) {
    const items = Array.isArray(value) ? value.map((v, i) => ({ value: v, name: `${name}[${i}]` })) : [{ value, name }]
    if (items.length === 0) throw new HydratorError('ERR_INVALID_OPTION', `report merge: ${name}: an empty array, expected run reports`)
    for (const item of items) {
      if (tooDeep(item.value, MAX_DEPTH)) throw new HydratorError('ERR_INVALID_OPTION', `report merge: ${item.name}: not a run report: values nested more than ${MAX_DEPTH} levels deep`)
      const report = unwrap(item.value)
      const problems = reportProblems(report)
      if (problems.length > 0) {
        throw new HydratorError('ERR_INVALID_OPTION', `report merge: ${item.name}: not a run report (as \`hydrate --report json\` prints it): ${problems.join('; ')}`)
      }
      out.push({ report: report as RunReport, name: item.name })
    }
  }
  return out
}

/** `hydrate report merge <files..>`: the reports of a split run's shares (or of resumed runs) as one. */
export function reportCommands(io: CliIo, setCode: (code: number) => void): CommandModule {
  return {
    command: 'report',
    describe: '`report merge <files..>`: add up the JSON reports of the shares of a split run, or of resumed runs, into one report',
    builder: (y) =>
      y
        .command(
          'merge <files..>',
          'merge run reports (as --report json prints them; a JSON array or NDJSON of them; Lambda handler results) and print the merged report as JSON; exit 0 when every share is done, 1 when one failed, is partial or did not run',
          (c) =>
            c
              .positional('files', { type: 'string', array: true, demandOption: true, describe: 'report files' })
              .option('shares', { type: 'number', describe: 'shares in the plan, to count the shares without a report as not run (default: the reports\' share count)' })
              .option('quiet', { type: 'boolean', describe: 'no summary on stderr unless something failed' }),
          async (args) => {
            const shares = args.shares as number | undefined
            if (shares !== undefined && (!Number.isInteger(shares) || shares < 1)) {
              throw new HydratorError('ERR_INVALID_OPTION', `--shares: expected an integer >= 1, got \`${String(shares)}\``)
            }
            const named: NamedReport[] = []
            for (const file of args.files as string[]) named.push(...(await readReports(String(file), io)))
            const merged = mergeReports(
              named.map((n) => n.report),
              { ...(shares !== undefined ? { shares } : {}), names: named.map((n) => n.name) },
            )
            io.stdout.write(stringifyTagged(merged, 2) + '\n')
            if (io.stdoutClosed?.()) return setCode(EXIT.brokenPipe)
            if (!args.quiet || merged.status !== 'ok') io.stderr.write(formatReport(merged))
            setCode(merged.status === 'ok' ? EXIT.ok : EXIT.failures)
          },
        )
        .demandCommand(1, '`hydrate report` needs a command: `merge <files..>` (add up the reports of a split run)'),
    handler: () => {},
  }
}
