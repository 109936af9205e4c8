import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { defineConfig, type Options } from 'tsup'

const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }

// The core entry stays light: each integration folder is its own entry (event-hydrator/postgres,
// ...), and the CLI loads them lazily by URI scheme.
export const integrations = ['json', 'postgres', 'mssql', 'dynamo', 'opensearch', 'lambda', 'eventbridge', 's3', 'aws-lambda']
const lib: Record<string, string> = {
  'lib/index': 'lib/index.ts',
  ...Object.fromEntries(integrations.map((name) => [`lib/${name}/index`, `lib/${name}/index.ts`])),
}

/** The widths the CLI wraps --help at without a narrower terminal (cli/app.ts: min(110, columns || 100)). */
export const helpWidths = [100, 110]

/** The library: its dependencies and its clients' packages (optional peers) stay imports. */
const library: Options = {
  entry: lib,
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: { entry: lib },
  sourcemap: true,
  // dist/cli is the other build's.
  clean: ['!cli/**'],
  splitting: true,
  // Loaded lazily for SigV4 without keys in the environment; not a dependency of ours (every AWS
  // SDK client brings it): never bundle it, or the package ships a second copy of the SDK's core.
  external: ['@aws-sdk/credential-provider-node'],
}

/**
 * The `hydrate` command: every package bundled (yargs, cli-progress, the AWS SDK clients with
 * @aws-sdk/credential-provider-node, postgres, mssql, the OpenSearch client), so one
 * `npm install -g event-hydrator` reaches every built-in scheme while the library's clients stay
 * optional peers. Split into chunks: the entry is small, and each integration with its client
 * loads on the first use of its scheme (start-up stays Node's own; bench/start.ts).
 */
const command: Options = {
  entry: { main: 'cli/main.ts' },
  outDir: 'dist/cli',
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  splitting: true,
  clean: true,
  dts: false,
  sourcemap: false,
  // Whitespace and syntax only: identifiers keep their names (the report's stage names, stack traces).
  minifyWhitespace: true,
  minifySyntax: true,
  noExternal: [/.*/],
  define: { __HYDRATE_VERSION__: JSON.stringify(version) },
  // The CommonJS packages inside call require() for Node's own modules.
  banner: { js: "import { createRequire as __hydrateRequire } from 'node:module'; const require = __hydrateRequire(import.meta.url);" },
  async onSuccess() {
    // `hydrate --help` answers from these files (cli/main.ts): the help the bundle itself prints.
    for (const width of helpWidths) {
      const script = `Object.defineProperty(process.stdout, 'columns', { value: ${width} }); process.argv.splice(1, Infinity, 'hydrate', '--help'); await import('./dist/cli/main.js')`
      const help = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, HYDRATE_NO_HELP_CACHE: '1', LC_ALL: 'C', LANG: 'C' } })
      writeFileSync(`dist/cli/help-${width}.txt`, help)
    }
  },
}

export default defineConfig([library, command])
