// Windows paths in URIs, globs and file URLs. The path logic is pure and takes the platform, so
// these run the Windows rules for real on any machine (`'win32'` inputs through `path.win32`); the
// tests at the end crawl real folders with the running platform's separators, which on the
// windows-latest runner are backslashes and drive letters.
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import type { CliIo } from '../../cli/io.js'
import { displayPath, globFiles, resolveFiles } from '../../lib/json/files.js'
import { parseUri } from '../../lib/registry.js'
import { fileLocation } from '../../lib/uri.js'
import { folderGlob, isGlob, localPath, looksLikeWindowsPath, planGlob, queryStart, windowsRoot, withoutLongPathPrefix } from '../../lib/util/local-path.js'
import { captured, ndjson, readableOf, rejects, tempDir } from '../helpers.js'

const test = suite('windows: paths, globs and file URLs')
let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir('eh-win-')
})
test.after(async () => {
  await tmp.cleanup()
})

test('a drive letter is never a URI scheme: json:C:\\... keeps the whole path, a bare C:\\... says how to write it', async () => {
  const glob = parseUri('json:C:\\events\\*.ndjson')
  assert.is(glob.scheme, 'json')
  assert.is(glob.path, 'C:\\events\\*.ndjson')
  assert.is(parseUri('ndjson:D:/out/x.ndjson?append=true').path, 'D:/out/x.ndjson')
  assert.is(parseUri('ndjson:D:/out/x.ndjson?append=true').params.get('append'), 'true')
  for (const bare of ['C:\\events\\x.ndjson', 'c:/events', 'D:', '\\\\nas\\share\\x.ndjson']) {
    assert.ok(looksLikeWindowsPath(bare), bare)
    const error = await rejects(Promise.resolve().then(() => parseUri(bare)), 'ERR_INVALID_URI', /is a Windows path, not a URI/)
    assert.match(error.message, `json:${bare}`)
  }
  for (const uri of ['json:./x.ndjson', 'postgres://h/db', './x', 'x:y']) assert.not.ok(looksLikeWindowsPath(uri), uri)
})

test('the ? of a \\\\?\\ long path does not start the query string', () => {
  const long = parseUri('json:\\\\?\\C:\\events\\x.json?format=array')
  assert.is(long.path, '\\\\?\\C:\\events\\x.json')
  assert.is(long.params.get('format'), 'array')
  assert.is(parseUri('json:\\\\?\\C:\\events\\x.ndjson').params.toString(), '')
  assert.is(queryStart('//?/C:/x?glob=*'), 8)
  assert.is(queryStart('./x?glob=*'), 3)
  assert.is(queryStart('\\\\server\\share\\x'), -1)
})

test('windowsRoot finds drives, UNC shares and device paths, with either separator', () => {
  const cases: [string, string][] = [
    ['C:\\events\\x', 'C:\\'],
    ['c:/events/x', 'c:/'],
    ['C:events\\x', 'C:'],
    ['\\events\\x', '\\'],
    ['\\\\nas\\logs\\2024\\x', '\\\\nas\\logs\\'],
    ['//nas/logs/x', '//nas/logs/'],
    ['\\\\?\\C:\\events\\x', '\\\\?\\C:\\'],
    ['\\\\.\\C:\\events', '\\\\.\\C:\\'],
    ['\\\\?\\UNC\\nas\\logs\\x', '\\\\?\\UNC\\nas\\logs\\'],
    ['\\\\?\\Volume{2f0a5e4c-0000-0000-0000-100000000000}\\events\\x', '\\\\?\\Volume{2f0a5e4c-0000-0000-0000-100000000000}\\'],
    ['events\\x', ''],
  ]
  for (const [text, root] of cases) assert.is(windowsRoot(text), root, text)
  assert.is(withoutLongPathPrefix('\\\\?\\C:\\events\\x'), 'C:\\events\\x')
  assert.is(withoutLongPathPrefix('\\\\?\\UNC\\nas\\logs\\x'), '\\\\nas\\logs\\x')
  assert.is(withoutLongPathPrefix('\\\\?\\Volume{x}\\events'), '\\\\?\\Volume{x}\\events')
  assert.is(withoutLongPathPrefix('C:\\x'), 'C:\\x')
})

test('a Windows glob: the folder before the first glob segment is crawled, the rest becomes a / pattern', () => {
  const cwd = 'C:\\work'
  const plan = (location: string) => planGlob(location, cwd, 'win32')
  assert.equal(plan('C:\\events\\*.ndjson'), { cwd: 'C:\\events', pattern: '*.ndjson', caseInsensitive: true })
  assert.equal(plan('C:/events/*.ndjson'), { cwd: 'C:\\events', pattern: '*.ndjson', caseInsensitive: true })
  assert.equal(plan('D:\\events\\2024-*\\**\\*.ndjson.gz'), { cwd: 'D:\\events', pattern: '2024-*/**/*.ndjson.gz', caseInsensitive: true })
  assert.equal(plan('events\\*.{ndjson,jsonl}'), { cwd: 'C:\\work\\events', pattern: '*.{ndjson,jsonl}', caseInsensitive: true })
  assert.equal(plan('*.ndjson'), { cwd: 'C:\\work', pattern: '*.ndjson', caseInsensitive: true })
  assert.equal(plan('..\\other\\*.ndjson'), { cwd: 'C:\\other', pattern: '*.ndjson', caseInsensitive: true })
  assert.equal(plan('C:\\*.ndjson'), { cwd: 'C:\\', pattern: '*.ndjson', caseInsensitive: true })
  // Parentheses in folder names are literal, before and after the first glob segment.
  assert.equal(plan('C:\\Program Files (x86)\\app\\logs\\*.ndjson'), { cwd: 'C:\\Program Files (x86)\\app\\logs', pattern: '*.ndjson', caseInsensitive: true })
  assert.equal(plan('C:\\data\\2024-*\\export (1)\\*.ndjson'), { cwd: 'C:\\data', pattern: '2024-*/export \\(1\\)/*.ndjson', caseInsensitive: true })
  assert.equal(plan('C:\\data\\!important*.ndjson'), { cwd: 'C:\\data', pattern: '\\!important*.ndjson', caseInsensitive: true })
  // UNC shares and long paths: the share and the prefix are never part of the pattern.
  assert.equal(plan('\\\\nas\\logs\\2024\\*.ndjson'), { cwd: '\\\\nas\\logs\\2024', pattern: '*.ndjson', caseInsensitive: true })
  assert.equal(plan('\\\\?\\C:\\events\\*.ndjson'), { cwd: 'C:\\events', pattern: '*.ndjson', caseInsensitive: true })
  // The root of a share keeps its separator, as path.win32.resolve writes it.
  assert.equal(plan('\\\\?\\UNC\\nas\\logs\\*.ndjson'), { cwd: '\\\\nas\\logs\\', pattern: '*.ndjson', caseInsensitive: true })
  // Not globs: a file, a folder, a long path whose only `?` is its prefix.
  for (const location of ['C:\\events\\x.ndjson', 'C:\\events\\', '\\\\?\\C:\\events\\x.json', '\\\\nas\\logs\\x.ndjson']) {
    assert.is(plan(location), undefined, location)
    assert.not.ok(isGlob(location, 'win32'), location)
  }
  assert.ok(isGlob('C:\\events\\*.ndjson', 'win32'))
})

test('on POSIX a glob is as before: the whole location from cwd, a backslash escapes', () => {
  assert.equal(planGlob('events/*.ndjson', '/work', 'linux'), { cwd: '/work', pattern: 'events/*.ndjson', caseInsensitive: false })
  assert.equal(planGlob('/var/events/\\*.ndjson', '/work', 'linux'), { cwd: '/work', pattern: '/var/events/\\*.ndjson', caseInsensitive: false })
  assert.is(planGlob('/var/events/x.ndjson', '/work', 'linux'), undefined)
  assert.ok(isGlob('\\\\?\\C:\\events\\x.json', 'linux'), 'on POSIX `?` is a glob character wherever it is')
  assert.is(folderGlob('2024\\*.ndjson', 'win32'), '2024/*.ndjson')
  assert.is(folderGlob('2024\\*.ndjson', 'linux'), '2024\\*.ndjson')
})

test('file: URLs become the platform\'s paths, percent-decoded; one that names no local file is ERR_INVALID_URI', async () => {
  assert.is(localPath('file:///C:/events/a%20b.ndjson', 'win32'), 'C:\\events\\a b.ndjson')
  assert.is(localPath('file:///c:/events/*.ndjson', 'win32'), 'c:\\events\\*.ndjson')
  assert.is(localPath('file://nas/logs/x.ndjson', 'win32'), '\\\\nas\\logs\\x.ndjson')
  assert.is(localPath('FILE:///var/events/x.ndjson', 'linux'), '/var/events/x.ndjson')
  assert.is(localPath('C:\\events\\x.ndjson', 'win32'), 'C:\\events\\x.ndjson')
  assert.is(localPath('./x.ndjson', 'linux'), './x.ndjson')
  assert.is(localPath('file:run.ckpt', 'linux'), 'run.ckpt')
  assert.is(localPath('file:C:\\ckpt\\run.ckpt', 'win32'), 'C:\\ckpt\\run.ckpt')
  assert.is(localPath('file:/var/run.ckpt', 'linux'), '/var/run.ckpt')
  await rejects(Promise.resolve().then(() => localPath('file://nas/logs/x.ndjson', 'linux')), 'ERR_INVALID_URI', /not a local file URL/)
  await rejects(Promise.resolve().then(() => localPath('file:///C:/a%2Fb.ndjson', 'win32')), 'ERR_INVALID_URI', /not a local file URL/)
  // Through a URI: the query is the scheme's, the rest a file URL.
  const uri = parseUri('ndjson:file:///D:/out/a%20b.ndjson?append=true')
  assert.is(fileLocation(uri, 'win32'), 'D:\\out\\a b.ndjson')
  assert.is(uri.params.get('append'), 'true')
  assert.is(fileLocation(parseUri('json:C:\\events\\*.ndjson'), 'win32'), 'C:\\events\\*.ndjson')
  assert.is(fileLocation(parseUri('json:events/a%20b.ndjson'), 'linux'), 'events/a b.ndjson')
  assert.is(fileLocation(parseUri('json:-'), 'linux'), '-')
})

test('displayPath on Windows: relative inside cwd whatever the case, absolute on another drive or share', () => {
  assert.is(displayPath('C:\\work\\events\\a.ndjson', 'C:\\work', 'win32'), 'events\\a.ndjson')
  assert.is(displayPath('c:\\WORK\\events\\a.ndjson', 'C:\\work', 'win32'), 'events\\a.ndjson')
  assert.is(displayPath('D:\\events\\a.ndjson', 'C:\\work', 'win32'), 'D:\\events\\a.ndjson')
  assert.is(displayPath('\\\\nas\\logs\\a.ndjson', 'C:\\work', 'win32'), '\\\\nas\\logs\\a.ndjson')
  assert.is(displayPath('C:\\other\\a.ndjson', 'C:\\work', 'win32'), 'C:\\other\\a.ndjson')
  assert.is(displayPath('/work/..hidden.ndjson', '/work', 'linux'), '..hidden.ndjson')
  assert.is(displayPath('/other/a.ndjson', '/work', 'linux'), '/other/a.ndjson')
})

test('the pattern a Windows glob becomes matches real files through tinyglobby: backslashes, (x86), case', async () => {
  const dir = path.join(tmp.dir, 'crawl')
  for (const name of ['2024-01/export (1)/A.NDJSON', '2024-01/export (1)/b.ndjson', '2024-02/export (1)/c.ndjson', '2024-02/export 1/d.ndjson', '2023-12/export (1)/e.ndjson']) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true })
    await writeFile(path.join(dir, name), '{}\n')
  }
  const plan = planGlob('C:\\data\\2024-*\\export (1)\\*.ndjson', 'C:\\work', 'win32')!
  // The same pattern, crawled from a real folder of this machine.
  const files = await globFiles({ ...plan, cwd: dir })
  assert.equal(
    files.map((f) => path.relative(dir, f.file).split(path.sep).join('/')),
    ['2024-01/export (1)/A.NDJSON', '2024-01/export (1)/b.ndjson', '2024-02/export (1)/c.ndjson'],
  )
  // A `[` or `{` in a folder name before the glob part is written as a one-character class.
  await mkdir(path.join(dir, 'data[1]', 'x{y}'), { recursive: true })
  await writeFile(path.join(dir, 'data[1]', 'x{y}', 'f.ndjson'), '{}\n')
  await mkdir(path.join(dir, 'data1', 'xy'), { recursive: true })
  await writeFile(path.join(dir, 'data1', 'xy', 'g.ndjson'), '{}\n')
  const escaped = planGlob('C:\\data[[]1]\\x[{]y}\\*.ndjson', 'C:\\work', 'win32')!
  assert.is(escaped.cwd, 'C:\\')
  const literal = await globFiles({ ...escaped, cwd: dir })
  assert.equal(literal.map((f) => path.relative(dir, f.file).split(path.sep).join('/')), ['data[1]/x{y}/f.ndjson'])
  // Matched paths come back with this platform's separators.
  for (const { file } of files) assert.ok(path.isAbsolute(file) && !file.includes(path.sep === '\\' ? '/' : '\\'), file)
})

// --- With the running platform's own paths (backslashes and drive letters on windows-latest) ---

async function hydrate(args: string[], cwd: string) {
  const stdout = captured()
  const stderr = captured()
  const io: CliIo = { stdout, stderr, stdin: readableOf(''), env: {}, cwd }
  const code = await cli(args, io)
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

test('json:<folder><sep>*.ndjson and ndjson:<absolute path> with the platform\'s separators read and write', async () => {
  const dir = path.join(tmp.dir, 'native')
  await mkdir(path.join(dir, 'in', 'sub'), { recursive: true })
  await writeFile(path.join(dir, 'in', 'events-2.ndjson'), ndjson([{ n: 2 }]))
  await writeFile(path.join(dir, 'in', 'events-10.ndjson'), ndjson([{ n: 10 }]))
  await writeFile(path.join(dir, 'in', 'sub', 'events-1.ndjson'), ndjson([{ n: 1 }]))
  const out = path.join(dir, 'out', 'all.ndjson')
  const r = await hydrate(['--source', `json:${path.join(dir, 'in', '**', '*.ndjson')}`, '--sink', `ndjson:${out}`, '--quiet'], dir)
  assert.is(r.code, 0, r.stderr)
  const { readFile } = await import('node:fs/promises')
  assert.equal((await readFile(out, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { n: number }).n), [2, 10, 1])
  const files = await resolveFiles(path.join('in', '*.ndjson'), '*', dir)
  assert.equal(files.map((f) => path.basename(f.file)), ['events-2.ndjson', 'events-10.ndjson'])
})

if (process.platform === 'win32') {
  test('Windows only: forward slashes, another case, \\\\?\\ and a file URL name the same files', async () => {
    const dir = path.join(tmp.dir, 'win-forms')
    await mkdir(dir, { recursive: true })
    await writeFile(path.join(dir, 'a.ndjson'), ndjson([{ n: 1 }]))
    await writeFile(path.join(dir, 'B.NDJSON'), ndjson([{ n: 2 }]))
    const expect = [path.join(dir, 'a.ndjson'), path.join(dir, 'B.NDJSON')]
    const names = async (location: string) => (await resolveFiles(location, '*', tmp.dir)).map((f) => f.file.toLowerCase())
    const lower = expect.map((f) => f.toLowerCase())
    assert.equal(await names(path.join(dir, '*.ndjson')), lower)
    assert.equal(await names(`${dir.replace(/\\/g, '/')}/*.ndjson`), lower)
    assert.equal(await names(`${dir.toUpperCase()}\\*.ndjson`), lower)
    assert.equal(await names(`\\\\?\\${dir}\\*.ndjson`), lower)
    assert.equal(await names(localPath(`${pathToFileURL(dir).href}/*.ndjson`)), lower)
    const one = await resolveFiles(`\\\\?\\${path.join(dir, 'a.ndjson')}`, '*', tmp.dir)
    assert.is(one.length, 1)
  })
}

test.run()
