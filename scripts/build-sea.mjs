#!/usr/bin/env node
// Builds the standalone `hydrate` executable with Node's single executable applications (SEA):
// the CLI and every client bundled into one CommonJS script (Node 20's SEA runs CommonJS only and
// loads nothing from disk but Node's own modules), a preparation blob made by this very `node`,
// and that blob injected into a copy of this `node` binary with postject.
//
//   node scripts/build-sea.mjs [--out dist-sea]      (npm run build:sea)
//
// The binary is for the platform and architecture of the `node` that runs this script: the
// release workflow runs it on a runner of each (.github/workflows/release.yml).
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const require = createRequire(import.meta.url)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const outIndex = args.indexOf('--out')
const out = path.resolve(outIndex >= 0 && args[outIndex + 1] ? args[outIndex + 1] : path.join(root, 'dist-sea'))
const windows = process.platform === 'win32'
const mac = process.platform === 'darwin'
const binary = path.join(out, windows ? 'hydrate.exe' : 'hydrate')
const log = (line) => process.stderr.write(`build-sea: ${line}\n`)

const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 20 || (major === 20 && minor < 19)) throw new Error(`Node ${process.versions.node}: the CLI needs Node 20.19 or later`)

const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'))
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })

// In the binary, import() of a file on disk has no loader behind it (Node 20: "A dynamic import
// callback was not specified"), but require() takes ES modules since Node 20.19 (without top-level
// await). So the modules a user names (--plugin, --transform, --config, lambda-local: handlers)
// load through a require() rooted at the working directory; everything else is bundled.
const userImports = {
  name: 'user-module-imports',
  setup(b) {
    b.onLoad({ filter: /[\\/](lib|cli)[\\/].*\.ts$/ }, (file) => {
      const source = readFileSync(file.path, 'utf8')
      const contents = source.replace(/\bawait import\((?!\s*['"`])/g, 'await __hydrateImport(')
      return { contents, loader: 'ts' }
    })
  },
}
const importShim = `
const __hydrateImport = async (specifier) => {
  const { createRequire, isBuiltin } = require('node:module');
  const { fileURLToPath } = require('node:url');
  const target = specifier.startsWith('file:') ? fileURLToPath(specifier) : specifier;
  const mod = isBuiltin(target) ? require(target) : createRequire(require('node:path').join(process.cwd(), 'noop.js'))(target);
  return Object.prototype.toString.call(mod) === '[object Module]' ? mod : { ...mod, default: mod };
};`

// 1. One CommonJS file, nothing external but Node's own modules.
const script = path.join(out, 'hydrate.cjs')
await build({
  entryPoints: [path.join(root, 'cli/main.ts')],
  outfile: script,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'error',
  // Bundled ES modules (yargs) read import.meta.url at load; in the binary it names the binary.
  define: { __HYDRATE_VERSION__: JSON.stringify(version), 'import.meta.url': '__hydrateUrl' },
  banner: { js: `const __hydrateUrl = require('node:url').pathToFileURL(__filename).href;${importShim}` },
  plugins: [userImports],
})
log(`bundled ${path.relative(root, script)} (${(statSync(script).size / 1e6).toFixed(1)} MB)`)

// 2. The preparation blob, with V8's code cache (start-up parses less of the 7 MB script).
const config = path.join(out, 'sea-config.json')
const blob = path.join(out, 'sea-prep.blob')
writeFileSync(config, JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }, null, 2))
execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] })

// 3. A copy of this node with the blob injected (macOS: unsigned first, ad-hoc signed after).
copyFileSync(process.execPath, binary)
chmodSync(binary, 0o755)
if (mac) execFileSync('codesign', ['--remove-signature', binary], { stdio: 'inherit' })
const { inject } = require('postject')
await inject(binary, 'NODE_SEA_BLOB', readFileSync(blob), {
  sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  ...(mac ? { machoSegmentName: 'NODE_SEA' } : {}),
  overwrite: true,
})
if (mac) execFileSync('codesign', ['--sign', '-', binary], { stdio: 'inherit' })
rmSync(blob)
rmSync(config)
log(`wrote ${binary} (${(statSync(binary).size / 1e6).toFixed(0)} MB, Node ${process.versions.node}, ${process.platform}-${process.arch})`)
