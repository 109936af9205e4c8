import { defineConfig } from 'tsup'

// The core entry stays light: each integration is its own entry (event-hydrator/postgres, ...),
// and the CLI loads them lazily by URI scheme.
const lib = ['index', 'postgres', 'mssql', 'dynamo', 'opensearch', 'lambda']

export default defineConfig({
  entry: { ...Object.fromEntries(lib.map((name) => [`lib/${name}`, `lib/${name}.ts`])), 'cli/main': 'cli/main.ts' },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: { entry: Object.fromEntries(lib.map((name) => [`lib/${name}`, `lib/${name}.ts`])) },
  sourcemap: true,
  clean: true,
  splitting: true,
})
