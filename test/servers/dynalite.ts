import type { Server } from 'node:http'
import { createRequire } from 'node:module'
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { awsRequestHandler } from '../../lib/util/aws.js'
import { startFaultProxy, type FaultProxy } from './fault-proxy.js'
import { listenLocal } from './listen.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

const require = createRequire(import.meta.url)
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server

/** A DynamoDB-compatible server (dynalite, in memory) on a free 127.0.0.1 port. */
export interface DynaliteServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string
  readonly port: number
  /** Stops the server, closing kept-alive connections first so the process can exit. */
  close(): Promise<void>
}

/**
 * Starts dynalite in this process with instant table creation and an in-memory store.
 *
 * @example
 * const server = await startDynalite()
 * const { doc } = dynamoClients(server.endpoint)
 */
export async function startDynalite(options: { maxItemSizeKb?: number } = {}): Promise<DynaliteServer> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...options })
  const listening = await listenLocal(server)
  return {
    endpoint: listening.url,
    port: listening.port,
    close: listening.close,
  }
}

/**
 * A raw client and a document client for a local endpoint, with fake credentials; with
 * `requestTimeoutMs`, a request unanswered that long fails with a TimeoutError.
 */
export function dynamoClients(
  endpoint: string,
  options: { maxAttempts?: number; requestTimeoutMs?: number } = {},
): { client: DynamoDBClient; doc: DynamoDBDocumentClient; destroy(): void } {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
    ...(options.requestTimeoutMs !== undefined ? { requestHandler: awsRequestHandler({ requestTimeoutMs: options.requestTimeoutMs }) } : {}),
  })
  const doc = DynamoDBDocumentClient.from(client)
  return { client, doc, destroy: () => client.destroy() }
}

/** The environment that points the CLI and hydrate() at a local DynamoDB, with test credentials. */
export function dynamoEnv(endpoint: string): Record<string, string | undefined> {
  return {
    ...process.env,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
  }
}

/** A key attribute: its name and type. */
export type KeyAttr = readonly [name: string, type: 'S' | 'N' | 'B']

/** Creates a table with a partition key, an optional sort key and optional global secondary indexes, and waits until it is ACTIVE. */
export async function createTable(
  client: DynamoDBClient,
  name: string,
  key: { partition: KeyAttr; sort?: KeyAttr },
  indexes: { name: string; partition: KeyAttr; sort?: KeyAttr }[] = [],
): Promise<void> {
  const attrs = new Map<string, string>()
  const add = (a?: KeyAttr) => {
    if (a) attrs.set(a[0], a[1])
  }
  add(key.partition)
  add(key.sort)
  for (const ix of indexes) {
    add(ix.partition)
    add(ix.sort)
  }
  const schema = (p: KeyAttr, s?: KeyAttr) => [
    { AttributeName: p[0], KeyType: 'HASH' as const },
    ...(s ? [{ AttributeName: s[0], KeyType: 'RANGE' as const }] : []),
  ]
  const input: CreateTableCommandInput = {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attrs].map(([AttributeName, AttributeType]) => ({
      AttributeName,
      AttributeType: AttributeType as 'S' | 'N' | 'B',
    })),
    KeySchema: schema(key.partition, key.sort),
    ...(indexes.length > 0
      ? {
          GlobalSecondaryIndexes: indexes.map((ix) => ({
            IndexName: ix.name,
            KeySchema: schema(ix.partition, ix.sort),
            Projection: { ProjectionType: 'ALL' as const },
          })),
        }
      : {}),
  }
  await client.send(new CreateTableCommand(input))
  // Even with createTableMs 0 the table is CREATING until a timer fires; writes before that fail.
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }))
    if (Table?.TableStatus === 'ACTIVE') return
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** dynalite, clients for it, and a fault-injecting proxy in front of it with clients that go through it. */
export interface DynamoTestbed {
  readonly server: DynaliteServer
  readonly proxy: FaultProxy
  /** Straight to dynalite. */
  readonly raw: DynamoDBClient
  readonly doc: DynamoDBDocumentClient
  /** Through the proxy, one attempt per request: the code under test does its own retrying. */
  readonly viaProxy: ReturnType<typeof dynamoClients>
  close(): Promise<void>
}

/**
 * Starts what the DynamoDB tests need: dynalite, its clients, and the fault proxy in front of it.
 *
 * @example
 * const bed = await startDynamoTestbed()
 * bed.proxy.setRules(dynamoFaults.throttle(2))
 * await bed.close()
 */
export async function startDynamoTestbed(options: { seed?: number } = {}): Promise<DynamoTestbed> {
  const server = await startDynalite()
  const clients = dynamoClients(server.endpoint)
  const proxy = await startFaultProxy({ target: server.endpoint, ...(options.seed !== undefined ? { seed: options.seed } : {}) })
  const viaProxy = dynamoClients(proxy.url, { maxAttempts: 1 })
  return {
    server,
    proxy,
    raw: clients.client,
    doc: clients.doc,
    viaProxy,
    async close() {
      clients.destroy()
      viaProxy.destroy()
      await proxy.close()
      await server.close()
    },
  }
}
