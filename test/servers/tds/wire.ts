// The TDS 7.4 wire format, as the test server speaks it: packet framing, the token writers for the
// responses tedious parses, and the readers for the requests tedious sends (PRELOGIN, LOGIN7,
// SQL_BATCH, RPC with its parameters, TRANSACTION_MANAGER). Checked against tedious' own source
// (node_modules/tedious/lib: packet.js, login7-payload.js, rpcrequest-payload.js, token/*.js,
// metadata-parser.js, value-parser.js, data-types/*.js) and MS-TDS.

import type { SqlType, Value } from './types.js'

export const PACKET = {
  SQL_BATCH: 0x01,
  RPC_REQUEST: 0x03,
  TABULAR_RESULT: 0x04,
  ATTENTION: 0x06,
  BULK_LOAD: 0x07,
  TRANSACTION_MANAGER: 0x0e,
  LOGIN7: 0x10,
  PRELOGIN: 0x12,
} as const

export const STATUS_EOM = 0x01
export const STATUS_RESET_CONNECTION = 0x08

export const TOKEN = {
  COLMETADATA: 0x81,
  RETURNSTATUS: 0x79,
  ERROR: 0xaa,
  INFO: 0xab,
  LOGINACK: 0xad,
  FEATUREEXTACK: 0xae,
  ROW: 0xd1,
  ENVCHANGE: 0xe3,
  DONE: 0xfd,
  DONEPROC: 0xfe,
  DONEINPROC: 0xff,
} as const

export const DONE_STATUS = { FINAL: 0x00, MORE: 0x01, ERROR: 0x02, INXACT: 0x04, COUNT: 0x10, ATTN: 0x20 } as const

/** SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, ignore case/kana/width, sort id 52 (code page 1252). */
export const COLLATION = Buffer.from([0x09, 0x04, 0xd0, 0x00, 0x34])

export const TDS_7_4 = 0x74000004

/** A growable little-endian buffer writer. */
export class Writer {
  #buf = Buffer.alloc(256)
  #len = 0

  #ensure(n: number): void {
    if (this.#len + n <= this.#buf.length) return
    let size = this.#buf.length * 2
    while (size < this.#len + n) size *= 2
    const next = Buffer.alloc(size)
    this.#buf.copy(next, 0, 0, this.#len)
    this.#buf = next
  }

  get length(): number {
    return this.#len
  }

  u8(v: number): this {
    this.#ensure(1)
    this.#buf.writeUInt8(v, this.#len)
    this.#len += 1
    return this
  }

  u16(v: number): this {
    this.#ensure(2)
    this.#buf.writeUInt16LE(v, this.#len)
    this.#len += 2
    return this
  }

  u16be(v: number): this {
    this.#ensure(2)
    this.#buf.writeUInt16BE(v, this.#len)
    this.#len += 2
    return this
  }

  i16(v: number): this {
    this.#ensure(2)
    this.#buf.writeInt16LE(v, this.#len)
    this.#len += 2
    return this
  }

  u32(v: number): this {
    this.#ensure(4)
    this.#buf.writeUInt32LE(v >>> 0, this.#len)
    this.#len += 4
    return this
  }

  u32be(v: number): this {
    this.#ensure(4)
    this.#buf.writeUInt32BE(v >>> 0, this.#len)
    this.#len += 4
    return this
  }

  i32(v: number): this {
    this.#ensure(4)
    this.#buf.writeInt32LE(v, this.#len)
    this.#len += 4
    return this
  }

  u64(v: bigint | number): this {
    this.#ensure(8)
    this.#buf.writeBigUInt64LE(BigInt(v), this.#len)
    this.#len += 8
    return this
  }

  i64(v: bigint | number): this {
    this.#ensure(8)
    this.#buf.writeBigInt64LE(BigInt(v), this.#len)
    this.#len += 8
    return this
  }

  f32(v: number): this {
    this.#ensure(4)
    this.#buf.writeFloatLE(v, this.#len)
    this.#len += 4
    return this
  }

  f64(v: number): this {
    this.#ensure(8)
    this.#buf.writeDoubleLE(v, this.#len)
    this.#len += 8
    return this
  }

  bytes(b: Buffer | Uint8Array): this {
    this.#ensure(b.length)
    Buffer.from(b.buffer, b.byteOffset, b.length).copy(this.#buf, this.#len)
    this.#len += b.length
    return this
  }

  /** B_VARCHAR: a one-byte character count, then UCS-2. */
  bvarchar(s: string): this {
    this.u8(s.length)
    return this.bytes(Buffer.from(s, 'ucs2'))
  }

  /** US_VARCHAR: a two-byte character count, then UCS-2. */
  usvarchar(s: string): this {
    this.u16(s.length)
    return this.bytes(Buffer.from(s, 'ucs2'))
  }

  /** B_VARBYTE: a one-byte length, then the bytes. */
  bvarbyte(b: Buffer): this {
    this.u8(b.length)
    return this.bytes(b)
  }

  toBuffer(): Buffer {
    return Buffer.from(this.#buf.subarray(0, this.#len))
  }
}

/** A bounds-checked little-endian reader; a short read throws a ProtocolError. */
export class Reader {
  offset = 0
  constructor(readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.offset
  }

  #need(n: number): void {
    if (this.offset + n > this.buf.length) throw new ProtocolError(`message ends early: needed ${n} bytes at offset ${this.offset}`)
  }

  u8(): number {
    this.#need(1)
    return this.buf.readUInt8(this.offset++)
  }

  u16(): number {
    this.#need(2)
    const v = this.buf.readUInt16LE(this.offset)
    this.offset += 2
    return v
  }

  i16(): number {
    this.#need(2)
    const v = this.buf.readInt16LE(this.offset)
    this.offset += 2
    return v
  }

  u32(): number {
    this.#need(4)
    const v = this.buf.readUInt32LE(this.offset)
    this.offset += 4
    return v
  }

  i32(): number {
    this.#need(4)
    const v = this.buf.readInt32LE(this.offset)
    this.offset += 4
    return v
  }

  u64(): bigint {
    this.#need(8)
    const v = this.buf.readBigUInt64LE(this.offset)
    this.offset += 8
    return v
  }

  i64(): bigint {
    this.#need(8)
    const v = this.buf.readBigInt64LE(this.offset)
    this.offset += 8
    return v
  }

  f32(): number {
    this.#need(4)
    const v = this.buf.readFloatLE(this.offset)
    this.offset += 4
    return v
  }

  f64(): number {
    this.#need(8)
    const v = this.buf.readDoubleLE(this.offset)
    this.offset += 8
    return v
  }

  bytes(n: number): Buffer {
    this.#need(n)
    const b = this.buf.subarray(this.offset, this.offset + n)
    this.offset += n
    return b
  }

  ucs2(chars: number): string {
    return this.bytes(chars * 2).toString('ucs2')
  }

  bvarchar(): string {
    return this.ucs2(this.u8())
  }
}

/** A request that does not follow the protocol: the server answers it by closing the connection. */
export class ProtocolError extends Error {}

/** Splits a message into packets of at most `packetSize` bytes, the last one flagged EOM. */
export function packets(type: number, payload: Buffer, packetSize: number, nextPacketId: () => number): Buffer[] {
  const room = packetSize - 8
  const out: Buffer[] = []
  let offset = 0
  do {
    const chunk = payload.subarray(offset, offset + room)
    offset += chunk.length
    const header = Buffer.alloc(8)
    header.writeUInt8(type, 0)
    header.writeUInt8(offset >= payload.length ? STATUS_EOM : 0, 1)
    header.writeUInt16BE(chunk.length + 8, 2)
    header.writeUInt16BE(0, 4)
    header.writeUInt8(nextPacketId() % 256, 6)
    header.writeUInt8(0, 7)
    out.push(Buffer.concat([header, chunk]))
  } while (offset < payload.length)
  return out
}

/** Reassembles packets from a socket into whole messages. */
export class MessageAssembler {
  #pending: Buffer = Buffer.alloc(0)
  #parts: Buffer[] = []
  #status = 0

  /** Feeds bytes; returns the messages completed by them. */
  push(chunk: Buffer): { type: number; status: number; payload: Buffer }[] {
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk
    const done: { type: number; status: number; payload: Buffer }[] = []
    while (this.#pending.length >= 8) {
      const length = this.#pending.readUInt16BE(2)
      if (length < 8) throw new ProtocolError(`packet length ${length} is shorter than its header`)
      if (this.#pending.length < length) break
      const type = this.#pending.readUInt8(0)
      const status = this.#pending.readUInt8(1)
      if (this.#parts.length === 0) this.#status = status
      this.#parts.push(this.#pending.subarray(8, length))
      this.#pending = this.#pending.subarray(length)
      if (status & STATUS_EOM) {
        done.push({ type, status: this.#status, payload: Buffer.concat(this.#parts) })
        this.#parts = []
      }
    }
    return done
  }
}

// ---------------------------------------------------------------------------------------------
// PRELOGIN and LOGIN7

/** The server's PRELOGIN answer: version 16.0, ENCRYPT_NOT_SUP, no instance, no MARS. */
export function preloginResponse(): Buffer {
  const options: [number, Buffer][] = [
    [0x00, Buffer.from([16, 0, 0x10, 0x00, 0x00, 0x00])], // VERSION 16.0.4096.0
    [0x01, Buffer.from([0x02])], // ENCRYPTION: NOT_SUP
    [0x02, Buffer.from([0x00])], // INSTOPT
    [0x03, Buffer.alloc(0)], // THREADID
    [0x04, Buffer.from([0x00])], // MARS off
  ]
  const headerLength = options.length * 5 + 1
  const w = new Writer()
  let dataOffset = headerLength
  for (const [token, data] of options) {
    w.u8(token).u16be(dataOffset).u16be(data.length)
    dataOffset += data.length
  }
  w.u8(0xff)
  for (const [, data] of options) w.bytes(data)
  return w.toBuffer()
}

/** Reads the client's PRELOGIN to see what encryption it asks for. */
export function readPrelogin(payload: Buffer): { encryption: number | undefined } {
  let offset = 0
  let encryption: number | undefined
  while (offset < payload.length && payload[offset] !== 0xff) {
    const token = payload[offset]!
    const dataOffset = payload.readUInt16BE(offset + 1)
    if (token === 0x01) encryption = payload[dataOffset]
    offset += 5
  }
  return { encryption }
}

export interface Login7 {
  readonly tdsVersion: number
  readonly packetSize: number
  readonly hostname: string
  readonly userName: string
  readonly password: string
  readonly appName: string
  readonly serverName: string
  readonly libraryName: string
  readonly language: string
  readonly database: string
}

/** Reads a LOGIN7 message (MS-TDS 2.2.6.4): the fixed part, then offset/length pairs into the data. */
export function readLogin7(payload: Buffer): Login7 {
  if (payload.length < 94) throw new ProtocolError('LOGIN7 message is shorter than its fixed part')
  const str = (at: number, scramble = false): string => {
    const offset = payload.readUInt16LE(at)
    const chars = payload.readUInt16LE(at + 2)
    const bytes = Buffer.from(payload.subarray(offset, offset + chars * 2))
    if (scramble) {
      // Each byte was nibble-swapped, then XORed with 0xA5 (tedious scramblePassword).
      for (let i = 0; i < bytes.length; i++) {
        const b = bytes[i]! ^ 0xa5
        bytes[i] = ((b & 0x0f) << 4) | (b >> 4)
      }
    }
    return bytes.toString('ucs2')
  }
  return {
    tdsVersion: payload.readUInt32LE(4),
    packetSize: payload.readUInt32LE(8),
    hostname: str(36),
    userName: str(40),
    password: str(44, true),
    appName: str(48),
    serverName: str(52),
    libraryName: str(60),
    language: str(64),
    database: str(68),
  }
}

// ---------------------------------------------------------------------------------------------
// Response tokens

export function envChangeString(type: number, newValue: string, oldValue: string): Buffer {
  const body = new Writer().u8(type).bvarchar(newValue).bvarchar(oldValue).toBuffer()
  return new Writer().u8(TOKEN.ENVCHANGE).u16(body.length).bytes(body).toBuffer()
}

export function envChangeBytes(type: number, newValue: Buffer, oldValue: Buffer): Buffer {
  const body = new Writer().u8(type).bvarbyte(newValue).bvarbyte(oldValue).toBuffer()
  return new Writer().u8(TOKEN.ENVCHANGE).u16(body.length).bytes(body).toBuffer()
}

export const ENV = { DATABASE: 1, LANGUAGE: 2, PACKET_SIZE: 4, SQL_COLLATION: 7, BEGIN_TXN: 8, COMMIT_TXN: 9, ROLLBACK_TXN: 10, RESET_CONNECTION: 18 } as const

export function loginAck(progName: string): Buffer {
  const body = new Writer()
    .u8(1) // interface SQL_TSQL
    .u32be(TDS_7_4)
    .bvarchar(progName)
    .u8(16)
    .u8(0)
    .u8(0x10)
    .u8(0x00)
    .toBuffer()
  return new Writer().u8(TOKEN.LOGINACK).u16(body.length).bytes(body).toBuffer()
}

/** FEATUREEXTACK acknowledging UTF-8 support, as SQL Server 2019+ does for tedious' request. */
export function featureExtAck(): Buffer {
  return new Writer().u8(TOKEN.FEATUREEXTACK).u8(0x0a).u32(1).u8(1).u8(0xff).toBuffer()
}

export interface ServerMessage {
  readonly number: number
  readonly state?: number
  readonly severity?: number
  readonly message: string
  readonly procName?: string
  readonly line?: number
}

function infoOrError(token: number, m: ServerMessage, serverName: string): Buffer {
  const body = new Writer()
    .u32(m.number)
    .u8(m.state ?? 1)
    .u8(m.severity ?? 16)
    .usvarchar(m.message)
    .bvarchar(serverName)
    .bvarchar(m.procName ?? '')
    .u32(m.line ?? 1)
    .toBuffer()
  return new Writer().u8(token).u16(body.length).bytes(body).toBuffer()
}

export function errorToken(m: ServerMessage, serverName: string): Buffer {
  return infoOrError(TOKEN.ERROR, m, serverName)
}

export function infoToken(m: ServerMessage, serverName: string): Buffer {
  return infoOrError(TOKEN.INFO, { severity: 0, ...m }, serverName)
}

export function done(token: number, status: number, curCmd: number, rowCount: number): Buffer {
  return new Writer().u8(token).u16(status).u16(curCmd).u64(rowCount).toBuffer()
}

export function returnStatus(value: number): Buffer {
  return new Writer().u8(TOKEN.RETURNSTATUS).i32(value).toBuffer()
}

// ---------------------------------------------------------------------------------------------
// Result sets: COLMETADATA and ROW for the column types the server stores

const TYPE_ID = {
  INTN: 0x26,
  BITN: 0x68,
  FLTN: 0x6d,
  DECIMALN: 0x6a,
  NUMERICN: 0x6c,
  GUID: 0x24,
  DATEN: 0x28,
  DATETIME2N: 0x2a,
  DATETIMEOFFSETN: 0x2b,
  DATETIMN: 0x6f,
  BIGVARBIN: 0xa5,
  BIGVARCHR: 0xa7,
  BIGCHAR: 0xaf,
  NVARCHAR: 0xe7,
  NCHAR: 0xef,
} as const

export interface ResultColumn {
  readonly name: string
  readonly type: SqlType
  readonly nullable: boolean
}

function decimalLength(precision: number): number {
  return precision <= 9 ? 5 : precision <= 19 ? 9 : precision <= 28 ? 13 : 17
}

function timeLength(scale: number): number {
  return scale <= 2 ? 3 : scale <= 4 ? 4 : 5
}

export function colMetadata(columns: readonly ResultColumn[]): Buffer {
  const w = new Writer().u8(TOKEN.COLMETADATA).u16(columns.length)
  for (const c of columns) {
    w.u32(0) // user type
    w.u16((c.nullable ? 0x01 : 0) | 0x08) // nullable, updateable unknown
    writeTypeInfo(w, c.type)
    w.bvarchar(c.name)
  }
  return w.toBuffer()
}

function writeTypeInfo(w: Writer, t: SqlType): void {
  switch (t.name) {
    case 'tinyint':
      w.u8(TYPE_ID.INTN).u8(1)
      return
    case 'smallint':
      w.u8(TYPE_ID.INTN).u8(2)
      return
    case 'int':
      w.u8(TYPE_ID.INTN).u8(4)
      return
    case 'bigint':
      w.u8(TYPE_ID.INTN).u8(8)
      return
    case 'bit':
      w.u8(TYPE_ID.BITN).u8(1)
      return
    case 'float':
      w.u8(TYPE_ID.FLTN).u8(8)
      return
    case 'real':
      w.u8(TYPE_ID.FLTN).u8(4)
      return
    case 'decimal':
    case 'numeric': {
      const p = t.precision ?? 18
      w.u8(t.name === 'decimal' ? TYPE_ID.DECIMALN : TYPE_ID.NUMERICN).u8(decimalLength(p)).u8(p).u8(t.scale ?? 0)
      return
    }
    case 'uniqueidentifier':
      w.u8(TYPE_ID.GUID).u8(16)
      return
    case 'date':
      w.u8(TYPE_ID.DATEN)
      return
    case 'datetime2':
      w.u8(TYPE_ID.DATETIME2N).u8(t.scale ?? 7)
      return
    case 'datetimeoffset':
      w.u8(TYPE_ID.DATETIMEOFFSETN).u8(t.scale ?? 7)
      return
    case 'datetime':
      w.u8(TYPE_ID.DATETIMN).u8(8)
      return
    case 'nvarchar':
    case 'nchar':
      w.u8(t.name === 'nvarchar' ? TYPE_ID.NVARCHAR : TYPE_ID.NCHAR)
      w.u16(t.length === -1 ? 0xffff : (t.length ?? 1) * 2).bytes(COLLATION)
      return
    case 'varchar':
    case 'char':
      w.u8(t.name === 'varchar' ? TYPE_ID.BIGVARCHR : TYPE_ID.BIGCHAR)
      w.u16(t.length === -1 ? 0xffff : (t.length ?? 1)).bytes(COLLATION)
      return
    case 'varbinary':
      w.u8(TYPE_ID.BIGVARBIN).u16(t.length === -1 ? 0xffff : (t.length ?? 1))
      return
  }
}

export function row(columns: readonly ResultColumn[], values: readonly Value[]): Buffer {
  const w = new Writer().u8(TOKEN.ROW)
  columns.forEach((c, i) => writeValue(w, c.type, values[i] ?? null))
  return w.toBuffer()
}

const DAY_MS = 86_400_000
// Days from 0001-01-01 to 1970-01-01 in the proleptic Gregorian calendar.
const EPOCH_DAYS = 719_162

function writePlp(w: Writer, data: Buffer | null): void {
  if (data === null) {
    w.u64(0xffffffffffffffffn)
    return
  }
  w.u64(data.length)
  if (data.length > 0) w.u32(data.length).bytes(data)
  w.u32(0)
}

function writeValue(w: Writer, t: SqlType, v: Value): void {
  const isNull = v === null
  switch (t.name) {
    case 'tinyint':
    case 'smallint':
    case 'int':
    case 'bigint': {
      const size = { tinyint: 1, smallint: 2, int: 4, bigint: 8 }[t.name]
      if (isNull) return void w.u8(0)
      const n = Number(v)
      w.u8(size)
      if (size === 1) w.u8(n)
      else if (size === 2) w.i16(n)
      else if (size === 4) w.i32(n)
      else w.i64(BigInt(Math.trunc(n)))
      return
    }
    case 'bit':
      if (isNull) return void w.u8(0)
      w.u8(1).u8(v ? 1 : 0)
      return
    case 'float':
      if (isNull) return void w.u8(0)
      w.u8(8).f64(Number(v))
      return
    case 'real':
      if (isNull) return void w.u8(0)
      w.u8(4).f32(Number(v))
      return
    case 'decimal':
    case 'numeric': {
      if (isNull) return void w.u8(0)
      const p = t.precision ?? 18
      const s = t.scale ?? 0
      const len = decimalLength(p)
      const scaled = decimalToScaledBigInt(String(v), s)
      const magnitude = scaled < 0n ? -scaled : scaled
      w.u8(len).u8(scaled < 0n ? 0 : 1)
      const bytes = Buffer.alloc(len - 1)
      let m = magnitude
      for (let i = 0; i < bytes.length; i++) {
        bytes[i] = Number(m & 0xffn)
        m >>= 8n
      }
      w.bytes(bytes)
      return
    }
    case 'uniqueidentifier': {
      if (isNull) return void w.u8(0)
      w.u8(16).bytes(guidToBuffer(String(v)))
      return
    }
    case 'date': {
      if (isNull) return void w.u8(0)
      const d = v as Date
      w.u8(3)
      writeU24(w, Math.floor(d.getTime() / DAY_MS) + EPOCH_DAYS)
      return
    }
    case 'datetime2':
    case 'datetimeoffset': {
      if (isNull) return void w.u8(0)
      const scale = t.scale ?? 7
      const tl = timeLength(scale)
      const ms = (v as Date).getTime()
      const days = Math.floor(ms / DAY_MS)
      const msOfDay = ms - days * DAY_MS
      const units = scale >= 3 ? BigInt(msOfDay) * 10n ** BigInt(scale - 3) : BigInt(Math.floor(msOfDay / 10 ** (3 - scale)))
      w.u8(tl + 3 + (t.name === 'datetimeoffset' ? 2 : 0))
      const tb = Buffer.alloc(8)
      tb.writeBigUInt64LE(units)
      w.bytes(tb.subarray(0, tl))
      writeU24(w, days + EPOCH_DAYS)
      // Stored as a UTC instant; the offset is not kept (tedious reads the instant only).
      if (t.name === 'datetimeoffset') w.i16(0)
      return
    }
    case 'datetime': {
      if (isNull) return void w.u8(0)
      const ms = (v as Date).getTime()
      const days = Math.floor(ms / DAY_MS)
      const msOfDay = ms - days * DAY_MS
      w.u8(8).i32(days + 25567).u32(Math.round((msOfDay * 300) / 1000))
      return
    }
    case 'nvarchar':
    case 'nchar': {
      const data = isNull ? null : Buffer.from(String(v), 'ucs2')
      if (t.length === -1) return writePlp(w, data)
      if (data === null) return void w.u16(0xffff)
      w.u16(data.length).bytes(data)
      return
    }
    case 'varchar':
    case 'char': {
      const data = isNull ? null : Buffer.from(String(v), 'latin1')
      if (t.length === -1) return writePlp(w, data)
      if (data === null) return void w.u16(0xffff)
      w.u16(data.length).bytes(data)
      return
    }
    case 'varbinary': {
      const data = isNull ? null : (v as Buffer)
      if (t.length === -1) return writePlp(w, data)
      if (data === null) return void w.u16(0xffff)
      w.u16(data.length).bytes(data)
      return
    }
  }
}

function writeU24(w: Writer, n: number): void {
  w.u8(n & 0xff).u8((n >> 8) & 0xff).u8((n >> 16) & 0xff)
}

/** `-12.5` at scale 2 -> -1250n, exactly (no float arithmetic). */
export function decimalToScaledBigInt(text: string, scale: number): bigint {
  const m = /^([+-])?(\d*)(?:\.(\d*))?$/.exec(text.trim())
  if (!m) throw new Error(`not a decimal: ${text}`)
  const whole = m[2] || '0'
  let frac = m[3] ?? ''
  // Round half away from zero at `scale` digits, as SQL Server does when it stores a decimal.
  let roundUp = false
  if (frac.length > scale) {
    roundUp = Number(frac[scale]) >= 5
    frac = frac.slice(0, scale)
  }
  let n = BigInt(whole + frac.padEnd(scale, '0'))
  if (roundUp) n += 1n
  return m[1] === '-' ? -n : n
}

export function guidToBuffer(text: string): Buffer {
  const hex = text.replace(/[{}-]/g, '')
  const b = Buffer.from(hex, 'hex')
  // The first three groups are little-endian on the wire.
  return Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(), Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8)])
}

export function bufferToGuid(b: Buffer): string {
  const fixed = Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(), Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8)])
  const h = fixed.toString('hex').toUpperCase()
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

// ---------------------------------------------------------------------------------------------
// Requests: ALL_HEADERS, SQL_BATCH, RPC, TRANSACTION_MANAGER

export interface Headers {
  /** The 8-byte transaction descriptor the client sent (all zero outside a transaction). */
  readonly transactionDescriptor: Buffer
}

/** Reads ALL_HEADERS (MS-TDS 2.2.5.3), which starts every TDS 7.2+ request. */
export function readAllHeaders(r: Reader): Headers {
  const start = r.offset
  const total = r.u32()
  let transactionDescriptor = Buffer.alloc(8)
  while (r.offset < start + total) {
    const headerStart = r.offset
    const length = r.u32()
    const type = r.u16()
    if (type === 2) {
      transactionDescriptor = Buffer.from(r.bytes(8))
      r.u32() // outstanding request count
    }
    r.offset = headerStart + length
  }
  r.offset = start + total
  return { transactionDescriptor }
}

export interface RpcParameter {
  /** The name without `@`, or '' for a positional one. */
  readonly name: string
  /** The wire type, as T-SQL: `nvarchar(max)`, `int`, `decimal(18,4)`. */
  readonly type: SqlType
  readonly value: Value
  readonly output: boolean
}

export interface RpcRequest {
  readonly headers: Headers
  /** `sp_executesql` for procedure id 10, or the procedure's name. */
  readonly procedure: string
  readonly parameters: RpcParameter[]
}

const SPECIAL_PROCEDURES: Record<number, string> = {
  10: 'sp_executesql',
  11: 'sp_prepare',
  12: 'sp_execute',
  13: 'sp_prepexec',
  15: 'sp_unprepare',
}

/** Reads an RPC request (MS-TDS 2.2.6.6). Throws UnsupportedTypeError for a type it cannot decode. */
export function readRpc(payload: Buffer): RpcRequest {
  const r = new Reader(payload)
  const headers = readAllHeaders(r)
  const nameLength = r.u16()
  const procedure = nameLength === 0xffff ? (SPECIAL_PROCEDURES[r.u16()] ?? 'unknown') : r.ucs2(nameLength)
  r.u16() // option flags
  const parameters: RpcParameter[] = []
  while (r.remaining > 0) {
    if (r.buf[r.offset] === 0x80 || r.buf[r.offset] === 0xff) {
      throw new UnsupportedRequestError('batched RPC calls in one request are not supported by the test server')
    }
    const name = r.bvarchar().replace(/^@/, '')
    const status = r.u8()
    const type = readTypeInfo(r)
    const value = readTypedValue(r, type)
    parameters.push({ name, type, value, output: (status & 0x01) !== 0 })
  }
  return { headers, procedure, parameters }
}

export function readSqlBatch(payload: Buffer): { headers: Headers; sql: string } {
  const r = new Reader(payload)
  const headers = readAllHeaders(r)
  return { headers, sql: r.bytes(r.remaining).toString('ucs2') }
}

export type TransactionRequest =
  | { readonly headers: Headers; readonly kind: 'begin'; readonly isolationLevel: number; readonly name: string }
  | { readonly headers: Headers; readonly kind: 'commit' | 'rollback' | 'save'; readonly name: string }
  | { readonly headers: Headers; readonly kind: 'other'; readonly requestType: number }

/** Reads a TRANSACTION_MANAGER request (MS-TDS 2.2.6.9) as tedious sends it (tedious transaction.js). */
export function readTransactionManager(payload: Buffer): TransactionRequest {
  const r = new Reader(payload)
  const headers = readAllHeaders(r)
  const requestType = r.u16()
  switch (requestType) {
    case 5: {
      const isolationLevel = r.u8()
      const name = r.bytes(r.u8()).toString('ucs2')
      return { headers, kind: 'begin', isolationLevel, name }
    }
    case 7:
    case 8: {
      const name = r.bytes(r.u8()).toString('ucs2')
      const flags = r.remaining > 0 ? r.u8() : 0
      if (flags & 0x01) throw new UnsupportedRequestError('commit/rollback with fBeginXact is not supported by the test server')
      return { headers, kind: requestType === 7 ? 'commit' : 'rollback', name }
    }
    case 9:
      return { headers, kind: 'save', name: r.bytes(r.u8()).toString('ucs2') }
    default:
      return { headers, kind: 'other', requestType }
  }
}

/** A request the test server cannot take; it answers with an error instead of guessing. */
export class UnsupportedRequestError extends Error {}

function readTypeInfo(r: Reader): SqlType {
  const id = r.u8()
  switch (id) {
    case 0x30:
      return { name: 'tinyint' }
    case 0x32:
      return { name: 'bit' }
    case 0x34:
      return { name: 'smallint' }
    case 0x38:
      return { name: 'int' }
    case 0x7f:
      return { name: 'bigint' }
    case 0x3b:
      return { name: 'real' }
    case 0x3e:
      return { name: 'float' }
    case 0x3d:
      return { name: 'datetime' }
    case TYPE_ID.INTN: {
      const size = r.u8()
      const name = ({ 1: 'tinyint', 2: 'smallint', 4: 'int', 8: 'bigint' } as const)[size as 1 | 2 | 4 | 8]
      if (!name) throw new ProtocolError(`INTN with length ${size}`)
      return { name }
    }
    case TYPE_ID.BITN:
      r.u8()
      return { name: 'bit' }
    case TYPE_ID.FLTN:
      return { name: r.u8() === 4 ? 'real' : 'float' }
    case TYPE_ID.DECIMALN:
    case TYPE_ID.NUMERICN: {
      r.u8()
      const precision = r.u8()
      const scale = r.u8()
      return { name: id === TYPE_ID.DECIMALN ? 'decimal' : 'numeric', precision, scale }
    }
    case TYPE_ID.GUID:
      r.u8()
      return { name: 'uniqueidentifier' }
    case TYPE_ID.DATEN:
      return { name: 'date' }
    case TYPE_ID.DATETIME2N:
      return { name: 'datetime2', scale: r.u8() }
    case TYPE_ID.DATETIMEOFFSETN:
      return { name: 'datetimeoffset', scale: r.u8() }
    case TYPE_ID.DATETIMN:
      r.u8()
      return { name: 'datetime' }
    case TYPE_ID.NVARCHAR:
    case TYPE_ID.NCHAR: {
      const max = r.u16()
      r.bytes(5)
      return { name: id === TYPE_ID.NVARCHAR ? 'nvarchar' : 'nchar', length: max === 0xffff ? -1 : max / 2 }
    }
    case TYPE_ID.BIGVARCHR:
    case TYPE_ID.BIGCHAR: {
      const max = r.u16()
      r.bytes(5)
      return { name: id === TYPE_ID.BIGVARCHR ? 'varchar' : 'char', length: max === 0xffff ? -1 : max }
    }
    case TYPE_ID.BIGVARBIN: {
      const max = r.u16()
      return { name: 'varbinary', length: max === 0xffff ? -1 : max }
    }
    default:
      throw new UnsupportedRequestError(`the test server does not decode parameters of TDS type 0x${id.toString(16).padStart(2, '0')}`)
  }
}

function readPlp(r: Reader): Buffer | null {
  const total = r.u64()
  if (total === 0xffffffffffffffffn) return null
  const parts: Buffer[] = []
  for (;;) {
    const len = r.u32()
    if (len === 0) break
    parts.push(r.bytes(len))
  }
  return Buffer.concat(parts)
}

function readU24(r: Reader): number {
  const b = r.bytes(3)
  return b[0]! | (b[1]! << 8) | (b[2]! << 16)
}

function readTypedValue(r: Reader, t: SqlType): Value {
  switch (t.name) {
    case 'tinyint':
    case 'smallint':
    case 'int':
    case 'bigint': {
      const len = r.u8()
      if (len === 0) return null
      if (len === 1) return r.u8()
      if (len === 2) return r.i16()
      if (len === 4) return r.i32()
      return Number(r.i64())
    }
    case 'bit': {
      const len = r.u8()
      return len === 0 ? null : r.u8() !== 0
    }
    case 'float':
    case 'real': {
      const len = r.u8()
      if (len === 0) return null
      return len === 4 ? r.f32() : r.f64()
    }
    case 'decimal':
    case 'numeric': {
      const len = r.u8()
      if (len === 0) return null
      const sign = r.u8()
      const bytes = r.bytes(len - 1)
      let n = 0n
      for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!)
      const s = t.scale ?? 0
      const digits = n.toString().padStart(s + 1, '0')
      const text = s > 0 ? `${digits.slice(0, -s)}.${digits.slice(-s)}` : digits
      return (sign === 1 ? '' : '-') + text
    }
    case 'uniqueidentifier': {
      const len = r.u8()
      return len === 0 ? null : bufferToGuid(Buffer.from(r.bytes(16)))
    }
    case 'date': {
      const len = r.u8()
      if (len === 0) return null
      return new Date((readU24(r) - EPOCH_DAYS) * DAY_MS)
    }
    case 'datetime2':
    case 'datetimeoffset': {
      const len = r.u8()
      if (len === 0) return null
      const scale = t.scale ?? 7
      const tl = timeLength(scale)
      const tb = Buffer.alloc(8)
      r.bytes(tl).copy(tb)
      const units = Number(tb.readBigUInt64LE())
      const days = readU24(r) - EPOCH_DAYS
      const date = new Date(days * DAY_MS + Math.round(units / 10 ** (scale - 3)))
      if (t.name === 'datetimeoffset') r.i16() // the time is UTC; the offset only says how to show it
      return date
    }
    case 'datetime': {
      const len = r.u8()
      if (len === 0) return null
      const days = r.i32()
      const ticks = r.u32()
      return new Date((days - 25567) * DAY_MS + Math.round((ticks * 1000) / 300))
    }
    case 'nvarchar':
    case 'nchar': {
      if (t.length === -1) return readPlp(r)?.toString('ucs2') ?? null
      const len = r.u16()
      return len === 0xffff ? null : r.bytes(len).toString('ucs2')
    }
    case 'varchar':
    case 'char': {
      if (t.length === -1) return readPlp(r)?.toString('latin1') ?? null
      const len = r.u16()
      return len === 0xffff ? null : r.bytes(len).toString('latin1')
    }
    case 'varbinary': {
      if (t.length === -1) {
        const b = readPlp(r)
        return b === null ? null : Buffer.from(b)
      }
      const len = r.u16()
      return len === 0xffff ? null : Buffer.from(r.bytes(len))
    }
  }
}
