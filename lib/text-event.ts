// An event carried as the bytes of its JSON text alone (see SourceCapabilities.useTextOnly), with
// its position made only when asked: a sort's merge hands millions of them to an NDJSON sink that
// copies their bytes and never looks at either.
// (Positions are `unknown` here, so that position.ts, which reads them, is not imported back.)

/** Makes the position of a {@link TextEvent} from what it was given (a sort's record). */
export interface TextEventPositions {
  position(buffer: Buffer, at: number, index: number): unknown
}

/**
 * An event yielded as its JSON text alone, unparsed: the UTF-8 bytes `buffer[start..end)` (which are
 * not changed after), its text (`rawTextOf`, decoded when asked), its position (`positionOf`, made
 * when asked), and no fields. Only stages and sinks that never look inside events get one; a sink
 * may copy its bytes as they are. run() parses it back (`eventOf`) before a failure hands it to the
 * dead-letter file or to user code.
 */
export class TextEvent {
  #text: string | undefined
  #position: unknown

  constructor(
    readonly buffer: Buffer,
    readonly start: number,
    readonly end: number,
    /** Where its position comes from, with `at` and `index`, when it has one. */
    readonly positions?: TextEventPositions,
    readonly at = 0,
    readonly index = 0,
  ) {}

  get text(): string {
    return (this.#text ??= this.buffer.toString('utf8', this.start, this.end))
  }

  get position(): unknown {
    if (this.#position === undefined) this.#position = this.positions?.position(this.buffer, this.at, this.index) ?? null
    return this.#position ?? undefined
  }

  set position(position: unknown) {
    this.#position = position ?? null
  }
}
