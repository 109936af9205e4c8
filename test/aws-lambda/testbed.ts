import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { BatchWriteCommand, ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** A fake Lambda context whose remaining time runs down from `ms`. */
export function lambdaContext(ms: number) {
  const deadline = Date.now() + ms
  return { getRemainingTimeInMillis: () => deadline - Date.now(), awsRequestId: `req-${Math.random().toString(36).slice(2)}` }
}

/** An event store item: aggregate `a<k>`, sequence `seq`, with a value that changes each time. */
export function storeEvent(i: number, aggregates: number) {
  const aggregate = `a${i % aggregates}`
  const seq = Math.floor(i / aggregates)
  return { aggregate, seq, id: `e${i}`, 'detail-type': 'Changed', detail: { v: i } }
}

/** Writes items 25 at a time, a few requests at once. */
export async function seed(doc: DynamoDBDocumentClient, table: string, items: readonly Record<string, unknown>[]): Promise<void> {
  const chunks: Record<string, unknown>[][] = []
  for (let i = 0; i < items.length; i += 25) chunks.push(items.slice(i, i + 25) as Record<string, unknown>[])
  for (let i = 0; i < chunks.length; i += 8) {
    await Promise.all(chunks.slice(i, i + 8).map((chunk) => doc.send(new BatchWriteCommand({ RequestItems: { [table]: chunk.map((Item) => ({ PutRequest: { Item } })) } }))))
  }
}

/** Every item of a table, sorted, as one string to compare. */
export async function digest(doc: DynamoDBDocumentClient, table: string): Promise<string> {
  const items: Record<string, unknown>[] = []
  let start: Record<string, unknown> | undefined
  do {
    const out = await doc.send(new ScanCommand({ TableName: table, ...(start ? { ExclusiveStartKey: start } : {}) }))
    items.push(...((out.Items ?? []) as Record<string, unknown>[]))
    start = out.LastEvaluatedKey as Record<string, unknown> | undefined
  } while (start)
  return items
    .map((item) => JSON.stringify(Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : 1)))))
    .sort()
    .join('\n')
}

/** A child process running a script with tsx; `exited` resolves with its code (-1 when killed) and output. */
export function spawnTsx(script: string, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const guard = setTimeout(() => child.kill('SIGKILL'), 240_000)
  const exited = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(guard)
      resolve({ code: signal ? -1 : (code ?? -1), stdout, stderr })
    }),
  )
  return { child, exited }
}
