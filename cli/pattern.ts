import type { CommandModule } from 'yargs'
import { HydratorError, errorMessage } from '../lib/errors.js'
import { compilePattern } from '../lib/pattern/index.js'
import { formatPosition, positionOf } from '../lib/position.js'
import { readJsonArray } from '../lib/json/read-array.js'
import { readJsonLines } from '../lib/json/read-lines.js'
import { startsWithBracket } from '../lib/json/sniff.js'
import path from 'node:path'
import type { CliIo } from './io.js'
import { loadPattern } from './load.js'

/** `hydrate pattern check <pattern>` and `hydrate pattern test <pattern> <events>`. */
export function patternCommands(io: CliIo, setCode: (code: number) => void): CommandModule {
  return {
    command: 'pattern <command>',
    describe: 'check an EventBridge pattern, or test which events it matches (like TestEventPattern, without AWS)',
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
          'print which events of a file (one JSON event, a JSON array or NDJSON) match; exit 0 if any does, 1 if none',
          (c) => c.positional('pattern', { type: 'string', demandOption: true }).positional('events', { type: 'string', demandOption: true }),
          async (args) => {
            const pattern = await loadPattern(String(args.pattern), io.cwd, 'pattern')
            const matcher = compilePattern(pattern)
            const file = path.resolve(io.cwd, String(args.events))
            const isArray = await startsWithBracket(file)
            const source = isArray ? readJsonArray(file, { cwd: io.cwd }) : readJsonLines(file, { cwd: io.cwd })
            let matched = 0
            let total = 0
            // A single pretty-printed event spans lines: read it whole when NDJSON reading fails on line 1.
            try {
              for await (const event of source) {
                total++
                const ok = matcher(event)
                if (ok) matched++
                io.stdout.write(`${ok ? 'match   ' : 'no-match'} ${formatPosition(positionOf(event))}\n`)
              }
            } catch (error) {
              throw new HydratorError('ERR_SOURCE_READ', errorMessage(error))
            }
            if (total === 0 && source.stats.failed > 0) {
              const { readFile } = await import('node:fs/promises')
              let event: unknown
              try {
                event = JSON.parse(await readFile(file, 'utf8'))
              } catch (error) {
                throw new HydratorError('ERR_INVALID_JSON', `${String(args.events)}: not JSON, a JSON array or NDJSON: ${errorMessage(error)}`)
              }
              total = 1
              const ok = matcher(event)
              if (ok) matched++
              io.stdout.write(`${ok ? 'match   ' : 'no-match'} ${String(args.events)}\n`)
            } else {
              for (const f of source.failures.samples) io.stderr.write(`skipped ${formatPosition(f.position)}: ${f.message}\n`)
            }
            io.stderr.write(`${matched} of ${total} events match\n`)
            setCode(matched > 0 ? 0 : 1)
          },
        )
        .demandCommand(1, 'use `pattern check <pattern>` or `pattern test <pattern> <events>`'),
    handler: () => {},
  }
}
