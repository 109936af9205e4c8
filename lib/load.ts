import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { HydratorError, errorMessage } from './errors.js'
import { compilePattern, type EventPattern } from './pattern/index.js'

/** Reads a pattern from a file or inline JSON; an EventBridge rule object gives its EventPattern. */
export async function loadPattern(value: string, cwd: string, what = '--filter'): Promise<EventPattern> {
  const text = value.trim()
  let raw: string
  let where: string
  if (text.startsWith('{')) {
    raw = text
    where = `${what} (inline JSON)`
  } else {
    const file = path.resolve(cwd, text)
    try {
      // Notepad and PowerShell's `Set-Content -Encoding UTF8` start the file with a BOM.
      raw = (await readFile(file, 'utf8')).replace(/^\uFEFF/, '')
    } catch {
      throw new HydratorError('ERR_FILE_NOT_FOUND', `${what}: cannot read \`${value}\`: no such file (give a pattern file or inline JSON)`)
    }
    where = `${what} ${value}`
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (error) {
    throw new HydratorError('ERR_INVALID_PATTERN', `${where}: not valid JSON: ${errorMessage(error)}`)
  }
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && 'EventPattern' in parsed) {
    const inner = (parsed as { EventPattern: unknown }).EventPattern
    parsed = typeof inner === 'string' ? JSON.parse(inner) : inner
  }
  try {
    compilePattern(parsed as EventPattern)
  } catch (error) {
    throw new HydratorError('ERR_INVALID_PATTERN', `${where}: ${errorMessage(error)}`, { cause: error })
  }
  return parsed as EventPattern
}

/** Imports a module given on the command line: a path (relative to cwd) or a package name. */
export async function importModule(specifier: string, cwd: string, what: string): Promise<Record<string, unknown>> {
  const isPath = specifier.startsWith('.') || path.isAbsolute(specifier) || /\.[cm]?[jt]s$/.test(specifier)
  const target = isPath ? pathToFileURL(path.resolve(cwd, specifier)).href : specifier
  if (isPath && !existsSync(path.resolve(cwd, specifier))) {
    throw new HydratorError('ERR_FILE_NOT_FOUND', `${what}: cannot find \`${specifier}\``)
  }
  try {
    return (await import(target)) as Record<string, unknown>
  } catch (error) {
    throw new HydratorError('ERR_PLUGIN', `${what}: cannot load \`${specifier}\`: ${errorMessage(error)}`, { cause: error })
  }
}
