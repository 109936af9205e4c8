import type { CommandModule } from 'yargs'
import { planShares } from '../lib/plan-shares.js'
import { EXIT, type CliIo } from './io.js'

/**
 * `hydrate plan --source <uri> --shares N`: prints the shares of a split run as a JSON array on
 * stdout, the input of a Step Functions Distributed Map or of a shell loop.
 */
export function planCommand(io: CliIo, setCode: (code: number) => void): CommandModule {
  return {
    command: 'plan',
    describe: 'split --source into --shares N shares (each key\'s events in one) and print them as a JSON array; run each with --share \'<element>\'',
    builder: (y) =>
      y
        .option('source', { type: 'string', demandOption: true, describe: 'the source to split: dynamo: (scan segments), opensearch: (slices), json: folders and globs (ranges of files)' })
        .option('shares', { type: 'number', demandOption: true, describe: 'how many shares' })
        .option('plugin', { type: 'string', array: true, describe: 'module adding schemes (repeatable)' })
        .example("$0 plan --source dynamo:events --shares 16 > shares.json", 'plan 16 shares of a table')
        .example("jq -c '.[]' shares.json | while read -r s; do hydrate --source dynamo:events --share \"$s\" --sink dynamo:users --checkpoint dynamo:ckpt/run-1 & done; wait", 'run them in parallel'),
    handler: async (args) => {
      const shares = await planShares({
        source: String(args.source),
        shares: args.shares as number,
        plugins: (args.plugin as string[] | undefined) ?? [],
        env: io.env,
        cwd: io.cwd,
      })
      io.stdout.write(JSON.stringify(shares) + '\n')
      setCode(io.stdoutClosed?.() ? EXIT.brokenPipe : EXIT.ok)
    },
  }
}
