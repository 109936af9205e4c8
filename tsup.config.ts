import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { 'lib/index': 'lib/index.ts', 'cli/main': 'cli/main.ts' },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: { entry: { 'lib/index': 'lib/index.ts' } },
  sourcemap: true,
  clean: true,
  splitting: true,
  shims: false,
})
