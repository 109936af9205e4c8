import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import type { CommandModule } from 'yargs'
import { defaultRegistry } from '../lib/builtins.js'
import { HydratorError, errorMessage } from '../lib/errors.js'
import { loadPattern } from '../lib/load.js'
import { compilePattern } from '../lib/pattern/index.js'
import { formatPosition, positionOf } from '../lib/position.js'
import { parseUri } from '../lib/registry.js'
import type { Source } from '../lib/types.js'
import type { CliIo } from './io.js'

/** The events argument as a source URI: a URI as it is, a path (file, folder, glob) as `json:<path>`. */
function eventsUri(events: string): string {
  try {
    const { scheme } = parseUri(events)
    // A Windows drive letter (`C:\events`) is a path, not a scheme.
    if (scheme.length > 1) return events
  } catch {
    // not a URI: a path
  }
  return `json:${events}`
}

/** `hydrate pattern check <pattern>` and `hydrate pattern test <pattern> <events>`. */
export function patternCommands(io: CliIo, setCode: (code: number) => void): CommandModule {
  return {
    command: 'pattern',
    describe: '`pattern check <pattern>`: explain what is wrong with an EventBridge pattern; `pattern test <pattern> <events>`: show which events it matches (like TestEventPattern, without AWS)',
    builder: (y) =>
      y
        .command(
          'check <pattern>',
          'validate a pattern (file or inline JSON) and explain what is wrong',
          (c) => c.positional('pattern', { type: 'string', demandOption: true }),
          async (args) => {
            await loadPattern(String(args.pattern), io.cwd, 'pattern')
            io.stdout.write(`valid: ${String(args.pattern)}\n`)
            setCode(0)
          },
        )
        .command(
          'test <pattern> <events>',
          'say which events match: <events> is any source the main command reads (a file, a folder, a glob, a URI such as dynamo:table); exit 0 if any matches, 1 if none',
          (c) =>
            c
              .positional('pattern', { type: 'string', demandOption: true })
              .positional('events', { type: 'string', demandOption: true })
              .option('matches-only', { type: 'boolean', describe: 'print only the events that match' }),
          async (args) => {
            const pattern = await loadPattern(String(args.pattern), io.cwd, 'pattern')
            const matcher = compilePattern(pattern)
            const matchesOnly = Boolean(args.matchesOnly)
            const given = String(args.events)
            const closers: (() => unknown)[] = []
            const source: Source<unknown> = await defaultRegistry().createSource(eventsUri(given), {
              env: io.env,
              cwd: io.cwd,
              stdin: io.stdin,
              flags: {},
              onClose: (fn) => closers.push(fn),
            })
            let matched = 0
            let total = 0
            const report = (ok: boolean, where: string) => {
              total++
              if (ok) matched++
              if (ok || !matchesOnly) io.stdout.write(`${ok ? 'match   ' : 'no-match'} ${where}\n`)
            }
            try {
              for await (const event of source) {
                report(matcher(event), formatPosition(positionOf(event)))
                // The reader went away (`| head`): stop quietly.
                if (io.signal?.aborted) break
              }
            } catch (error) {
              if (error instanceof HydratorError) throw error
              throw new HydratorError('ERR_SOURCE_READ', errorMessage(error))
            } finally {
              for (const close of closers.reverse()) await close()
            }
            if (io.stdoutClosed?.()) return setCode(141)
            // One pretty-printed event spans lines: read a single file whole when no line was an event.
            const file = path.resolve(io.cwd, given)
            const single = total === 0 && (source.stats?.failed ?? 0) > 0 && (await stat(file).then((s) => s.isFile(), () => false))
            if (single) {
              let event: unknown
              try {
                event = JSON.parse(await readFile(file, 'utf8'))
              } catch (error) {
                throw new HydratorError('ERR_INVALID_JSON', `${given}: not JSON, a JSON array or NDJSON: ${errorMessage(error)}`)
              }
              report(matcher(event), given)
            } else {
              for (const f of source.failures?.samples ?? []) io.stderr.write(`skipped ${formatPosition(f.position)}: ${f.message}\n`)
            }
            io.stderr.write(`${matched} of ${total} events match\n`)
            setCode(matched > 0 ? 0 : 1)
          },
        )
        .demandCommand(1, '`hydrate pattern` needs a command: `check <pattern>` (explain what is wrong with a pattern) or `test <pattern> <events>` (show which events match)'),
    handler: () => {},
  }
}
