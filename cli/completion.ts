import yargs, { type Argv } from 'yargs'

/**
 * What `hydrate completion` prints: yargs' bash script, or its zsh script when $SHELL or $ZSH_NAME
 * says zsh. A parser of its own: the main one would hand `completion` to the default command.
 */
export async function completionScript(): Promise<string> {
  let script = ''
  await yargs(['completion'])
    .scriptName('hydrate')
    .completion('completion', false)
    .exitProcess(false)
    .parseAsync(['completion'], {}, (_error, _argv, output) => {
      script = output
    })
  return script.endsWith('\n') ? script : `${script}\n`
}

type Done = (completions: string[]) => unknown
type Options = { key: Record<string, unknown>; boolean: string[]; array: string[]; choices: Record<string, string[]>; default: Record<string, unknown>; hiddenOptions: string[] }
type Internal = {
  getInternalMethods(): {
    getCommandInstance(): { getCommandHandlers(): Record<string, { builder?: unknown }> }
    getUsageInstance(): { getDescriptions(): Record<string, string | undefined> }
  }
  getOptions(): Options
}

/**
 * Answers `hydrate --get-yargs-completions <words>` (what the script runs on Tab). yargs completes
 * the subcommands by itself, but for the main command (`$0`) it knows only --help and --version:
 * here its options come from the main command's own builder, so the list cannot drift from --help.
 */
export function completeMainCommand(
  parserOf: () => Argv,
  raw: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  subcommands: readonly string[] = ['pattern', 'report', 'plan', 'completion'],
) {
  const zsh = Boolean(env.SHELL?.includes('zsh') || env.ZSH_NAME?.includes('zsh'))
  // The words typed so far, without the program's name, the last one being completed.
  const typed = raw.slice(raw.indexOf('--get-yargs-completions') + 2)
  const before = typed.slice(0, -1)
  // yargs' FallbackCompletionFunction: defaultCompletion() is yargs' own answer.
  return (current: string, _argv: unknown, defaultCompletion: () => unknown, done: Done): void => {
    if (before.some((w) => subcommands.includes(w))) return void defaultCompletion()
    const internal = parserOf() as unknown as Internal
    const builder = internal.getInternalMethods().getCommandInstance().getCommandHandlers().$0?.builder
    if (typeof builder !== 'function') return void defaultCompletion()
    const main = yargs([]) as unknown as Argv & Internal
    ;(builder as (y: Argv) => unknown)(main)
    const options = main.getOptions()
    const descriptions = main.getInternalMethods().getUsageInstance().getDescriptions()
    const describe = (key: string, name: string) =>
      zsh ? `${name.replace(/:/g, '\\:')}:${(descriptions[key] ?? '').replace('__yargsString__:', '').replace(/\s+/g, ' ')}` : name
    // Right after a flag with choices (--report, --order-missing): its values.
    const flag = /^--(.+)$/.exec(before.at(-1) ?? '')?.[1]
    const choices = flag ? options.choices[flag] : undefined
    if (choices?.length) return void done(choices.filter((c) => c.startsWith(current)))
    const completions: string[] = []
    if (!current.startsWith('-')) {
      for (const name of subcommands) if (name.startsWith(current)) completions.push(zsh ? `${name}:the ${name} command` : name)
    }
    for (const key of [...Object.keys(options.key), 'help', 'version']) {
      if (key.length < 2 || /[A-Z]/.test(key) || options.hiddenOptions.includes(key)) continue
      for (const name of [`--${key}`, ...(options.boolean.includes(key) && options.default[key] === true ? [`--no-${key}`] : [])]) {
        if (name.startsWith(current) && (!before.includes(name) || options.array.includes(key))) completions.push(describe(key, name))
      }
    }
    void done(completions)
  }
}
