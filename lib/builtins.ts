import { jsonPlugin } from './json/plugin.js'
import { Registry, type Plugin } from './registry.js'

/**
 * Heavy integrations register lazily: their modules (and client libraries) load only when a URI
 * with their scheme is used.
 */
function lazy(name: string, schemes: { sources?: string[]; sinks?: string[] }, load: () => Promise<Plugin>): Plugin {
  let loaded: Promise<Plugin> | undefined
  const get = () => (loaded ??= load())
  return {
    name,
    sources: Object.fromEntries(
      (schemes.sources ?? []).map((s) => [s, async (uri, context) => (await get()).sources![s]!(uri, context)]),
    ),
    sinks: Object.fromEntries((schemes.sinks ?? []).map((s) => [s, async (uri, context) => (await get()).sinks![s]!(uri, context)])),
  }
}

/** The built-in plugins, in the order they register. */
export const builtinPlugins: readonly Plugin[] = [
  jsonPlugin,
  lazy('postgres', { sinks: ['postgres', 'postgresql'] }, async () => (await import('./postgres/plugin.js')).postgresPlugin),
  lazy('mssql', { sinks: ['mssql', 'sqlserver'] }, async () => (await import('./mssql/plugin.js')).mssqlPlugin),
  lazy('dynamo', { sources: ['dynamo', 'dynamodb'], sinks: ['dynamo', 'dynamodb'] }, async () => (await import('./dynamo/plugin.js')).dynamoPlugin),
  lazy('opensearch', { sources: ['opensearch', 'opensearch+http', 'opensearch+https'], sinks: ['opensearch', 'opensearch+http', 'opensearch+https'] }, async () => (await import('./opensearch/plugin.js')).openSearchPlugin),
  lazy('lambda', { sinks: ['lambda', 'lambda-local'] }, async () => (await import('./lambda/plugin.js')).lambdaPlugin),
  lazy('eventbridge', { sinks: ['eventbridge'] }, async () => (await import('./eventbridge/plugin.js')).eventBridgePlugin),
]

/** A registry holding every built-in scheme. */
export function defaultRegistry(): Registry {
  const registry = new Registry()
  for (const plugin of builtinPlugins) registry.register(plugin)
  return registry
}

export { lazy as lazyPlugin }
