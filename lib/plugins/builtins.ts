import { jsonPlugin } from './json.js'
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
export const builtinPlugins: readonly Plugin[] = [jsonPlugin]

/** A registry holding every built-in scheme. */
export function defaultRegistry(): Registry {
  const registry = new Registry()
  for (const plugin of builtinPlugins) registry.register(plugin)
  return registry
}

export { lazy as lazyPlugin }
