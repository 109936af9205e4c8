import { defineConfig } from 'tsup'

// The core entry stays light: each integration folder is its own entry (event-hydrator/postgres,
// ...), and the CLI loads them lazily by URI scheme.
export const integrations = ['json', 'postgres', 'mssql', 'dynamo', 'opensearch', 'lambda', 'eventbridge', 's3', 'aws-lambda']
const lib: Record<string, string> = {
  'lib/index': 'lib/index.ts',
  ...Object.fromEntries(integrations.map((name) => [`lib/${name}/index`, `lib/${name}/index.ts`])),
}

export default defineConfig({
  entry: { ...lib, 'cli/main': 'cli/main.ts' },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: { entry: lib },
  sourcemap: true,
  clean: true,
  splitting: true,
  // Loaded lazily for SigV4 without keys in the environment; not a dependency of ours (every AWS
  // SDK client brings it): never bundle it, or the package ships a second copy of the SDK's core.
  external: ['@aws-sdk/credential-provider-node'],
})
