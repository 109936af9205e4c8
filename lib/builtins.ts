import { jsonPlugin } from './json/plugin.js'
import { HydratorError } from './errors.js'
import { importModule } from './load.js'
import { Registry, type Plugin } from './registry.js'

/**
 * Heavy integrations register lazily: their modules (and client libraries) load only when a URI
 * with their scheme is used.
 */
function lazy(
  name: string,
  schemes: { sources?: string[]; sinks?: string[]; checkpoints?: string[]; shares?: string[] },
  load: () => Promise<Plugin>,
): Plugin {
  let loaded: Promise<Plugin> | undefined
  const get = () => (loaded ??= load())
  return {
    name,
    sources: Object.fromEntries(
      (schemes.sources ?? []).map((s) => [s, async (uri, context) => (await get()).sources![s]!(uri, context)]),
    ),
    sinks: Object.fromEntries((schemes.sinks ?? []).map((s) => [s, async (uri, context) => (await get()).sinks![s]!(uri, context)])),
    checkpoints: Object.fromEntries(
      (schemes.checkpoints ?? []).map((s) => [s, async (uri, context) => (await get()).checkpoints![s]!(uri, context)]),
    ),
    shares: Object.fromEntries(
      (schemes.shares ?? []).map((s) => [s, async (uri, count, context) => (await get()).shares![s]!(uri, count, context)]),
    ),
  } satisfies Plugin
}

/** The built-in plugins, in the order they register. */
export const builtinPlugins: readonly Plugin[] = [
  jsonPlugin,
  lazy('postgres', { sinks: ['postgres', 'postgresql'] }, async () => (await import('./postgres/plugin.js')).postgresPlugin),
  lazy('mssql', { sinks: ['mssql', 'sqlserver'] }, async () => (await import('./mssql/plugin.js')).mssqlPlugin),
  lazy('dynamo', { sources: ['dynamo', 'dynamodb'], sinks: ['dynamo', 'dynamodb'], checkpoints: ['dynamo', 'dynamodb'], shares: ['dynamo', 'dynamodb'] }, async () => (await import('./dynamo/plugin.js')).dynamoPlugin),
  lazy('opensearch', { sources: ['opensearch', 'opensearch+http', 'opensearch+https'], sinks: ['opensearch', 'opensearch+http', 'opensearch+https'], shares: ['opensearch', 'opensearch+http', 'opensearch+https'] }, async () => (await import('./opensearch/plugin.js')).openSearchPlugin),
  lazy('lambda', { sinks: ['lambda', 'lambda-local'] }, async () => (await import('./lambda/plugin.js')).lambdaPlugin),
  lazy('eventbridge', { sinks: ['eventbridge'] }, async () => (await import('./eventbridge/plugin.js')).eventBridgePlugin),
  lazy('s3', { sources: ['s3'], sinks: ['s3'], checkpoints: ['s3'], shares: ['s3'] }, async () => (await import('./s3/plugin.js')).s3Plugin),
]

/** A registry holding every built-in scheme. */
export function defaultRegistry(): Registry {
  const registry = new Registry()
  for (const plugin of builtinPlugins) registry.register(plugin)
  return registry
}

/** The built-ins plus `plugins`: modules (paths or package names, loaded from `cwd`) or plugin objects. */
export async function registryWith(plugins: readonly (string | Plugin)[], cwd: string): Promise<Registry> {
  const registry = defaultRegistry()
  for (const given of plugins) {
    let plugin: unknown = given
    if (typeof given === 'string') {
      const mod = await importModule(given, cwd, '--plugin')
      plugin = mod.default ?? mod.plugin
      if (typeof plugin === 'function') plugin = await (plugin as () => unknown)()
    }
    if (!plugin || typeof plugin !== 'object') {
      throw new HydratorError('ERR_PLUGIN', `--plugin ${String(given)}: export a plugin object ({ name, sources, sinks }) as default or as \`plugin\``)
    }
    registry.register(plugin as Plugin)
  }
  return registry
}

export { lazy as lazyPlugin }
