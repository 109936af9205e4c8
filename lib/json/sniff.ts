import { open } from 'node:fs/promises'
import { HydratorError } from '../errors.js'

/**
 * Whether a file holds one JSON array: its first character, after a BOM and any whitespace, is `[`.
 * Reads 64 KB at a time until it finds one, so a long run of leading whitespace is no problem.
 * Throws ERR_FILE_NOT_FOUND when the file cannot be opened.
 *
 * @example
 * (await startsWithBracket('export.json')) ? readJsonArray('export.json') : readJsonLines('export.json')
 */
export async function startsWithBracket(file: string): Promise<boolean> {
  const handle = await open(file, 'r').catch((error: unknown) => {
    throw new HydratorError('ERR_FILE_NOT_FOUND', `cannot read \`${file}\`: no such file`, { cause: error })
  })
  try {
    const buf = Buffer.alloc(64 * 1024)
    let position = 0
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, position)
      if (bytesRead === 0) return false
      let i = position === 0 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0
      for (; i < bytesRead; i++) {
        const c = buf[i]!
        if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue
        return c === 0x5b
      }
      position += bytesRead
    }
  } finally {
    await handle.close()
  }
}
