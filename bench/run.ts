// npm run bench [-- name ...] [-- --events N]: every benchmark, each in its own process so one's
// memory and JIT state do not colour another's. Each prints a table of ratios against a baseline
// measured in the same run. Names: core, patterns, postgres, dynamo, opensearch, lambda, order-by, s3.
import { spawnSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const all = ['core', 'patterns', 'postgres', 'dynamo', 'opensearch', 'lambda', 'order-by', 's3', 'start']
const args = process.argv.slice(2)
const names = args.filter((a) => all.includes(a))
const passThrough = args.filter((a) => !all.includes(a))

console.log(`# event-hydrator benchmarks\n\nMachine: ${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load ${os.loadavg()[0]!.toFixed(1)}; Node ${process.version}; ${new Date().toISOString()}\n`)
let failed = false
for (const name of names.length ? names : all) {
  console.log(`\n## ${name}\n`)
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, `${name}.ts`), ...passThrough], { stdio: 'inherit', env: process.env })
  if (r.status !== 0) {
    failed = true
    console.log(`(${name} exited with ${r.status})`)
  }
}
process.exitCode = failed ? 1 : 0
