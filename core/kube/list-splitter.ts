// Splits a LIST response body into its items while it arrives, so that each object is
// parsed on its own, an object over the size cap is dropped without being buffered
// (only a short prefix is kept to say which object it was), and the page as a whole can
// be refused as soon as it passes its own cap.
//
// A Kubernetes List is `{"kind":…,"apiVersion":…,"metadata":{…},"items":[{…},{…}]}`.
// The scanner tracks JSON nesting (strings and escapes included); the bytes of each
// element of the top-level "items" array become one item, everything else the envelope
// (with an empty items array), which is parsed for metadata.resourceVersion/continue.

/** Bytes kept of an object that is over the cap: enough for kind, name, namespace, uid
 *  and resourceVersion, which the apiserver writes first. */
export const OVERSIZE_PREFIX_BYTES = 4096;

export interface OversizedItem {
  bytes: number;
  prefix: string;
}

export interface SplitListBody {
  /** Each kept item's bytes (views of the response's chunks where they fit in one). */
  items: Buffer[];
  /** The kept items as one JSON array text: parsed in one go, as fast as a whole page. */
  itemsArray: string;
  oversized: OversizedItem[];
  envelope: string;
}

export class PageOverCapError extends Error {
  constructor(readonly bytes: number) {
    super(`page holds more than ${bytes} bytes of objects`);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN = Buffer.from("[");
const COMMA = Buffer.from(",");
const CLOSE = Buffer.from("]");
/** What may stand between the items of the array: whitespace and commas. */
const SEPARATORS: ReadonlySet<number> = new Set([0x20, 0x09, 0x0a, 0x0d, 0x2c]);

/** Valid JSON so far, but not a Kubernetes List. */
export class NotAListError extends Error {}

function notAnObjectItem(): NotAListError {
  return new NotAListError('an element of "items" is not an object');
}

/** Top-level keys are captured up to this length (only "items" matters). */
const KEY_CAPTURE = 16;

export class ListBodySplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Inside the top-level "items" array. */
  private inItems = false;
  private itemsDone = false;
  /** Capturing a top-level key (a string at depth 1). */
  private keyBytes: number[] | undefined;
  private lastKey = "";
  /** The element being read: its chunks (none once it is over the cap), size, prefix. */
  private element: { chunks: Buffer[]; bytes: number; prefix: Buffer[]; prefixBytes: number; over: boolean } | undefined;
  private readonly envelope: Buffer[] = [];
  private envelopeBytes = 0;
  private readonly items: Buffer[] = [];
  private readonly oversized: OversizedItem[] = [];
  private itemBytes = 0;

  constructor(
    private readonly maxObjectBytes: number,
    private readonly maxPageBytes: number,
    /** The envelope (kind, metadata) is small; a huge one is not a List. */
    private readonly maxEnvelopeBytes = 1 << 20,
  ) {}

  /** Feeds the next chunk; throws PageOverCapError once the kept items pass the page cap. */
  push(chunk: Buffer): void {
    let segmentStart = 0;
    let inElement = this.element !== undefined;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) {
          this.inString = false;
          if (this.keyBytes) {
            this.lastKey = Buffer.from(this.keyBytes).toString("latin1");
            this.keyBytes = undefined;
          }
        } else if (this.keyBytes && this.keyBytes.length < KEY_CAPTURE) this.keyBytes.push(byte);
        continue;
      }
      switch (byte) {
        case QUOTE:
          if (this.inItems && !inElement && this.depth === 2) throw notAnObjectItem();
          this.inString = true;
          if (this.depth === 1) this.keyBytes = [];
          break;
        case OPEN_OBJECT:
        case OPEN_ARRAY:
          if (this.inItems && this.depth === 2 && !inElement) {
            // An element starts: the envelope takes what came before it.
            this.addEnvelope(chunk.subarray(segmentStart, i));
            segmentStart = i;
            this.element = { chunks: [], bytes: 0, prefix: [], prefixBytes: 0, over: false };
            inElement = true;
          }
          this.depth += 1;
          if (byte === OPEN_ARRAY && this.depth === 2 && !this.itemsDone && this.lastKey === "items") {
            this.inItems = true;
            // The envelope keeps "items":[ and, at the end, ]: an empty array.
            this.addEnvelope(chunk.subarray(segmentStart, i + 1));
            segmentStart = i + 1;
          }
          break;
        case CLOSE_OBJECT:
        case CLOSE_ARRAY:
          this.depth -= 1;
          if (inElement && this.depth === 2) {
            this.addElement(chunk.subarray(segmentStart, i + 1));
            this.finishElement();
            inElement = false;
            segmentStart = i + 1;
          } else if (this.inItems && this.depth === 1) {
            // The items array closes: its separators (commas, spaces) are dropped.
            this.inItems = false;
            this.itemsDone = true;
            segmentStart = i;
          }
          break;
        default:
          // Commas and whitespace between elements belong to neither; anything else there
          // is an item that is not an object (a number, true, null), which must not be
          // dropped silently: the page would read as complete without it.
          if (this.inItems && !inElement && this.depth === 2) {
            if (!SEPARATORS.has(byte)) throw notAnObjectItem();
            segmentStart = i + 1;
          }
      }
    }
    if (inElement) this.addElement(chunk.subarray(segmentStart));
    else if (!this.inItems) this.addEnvelope(chunk.subarray(segmentStart));
  }

  finish(): SplitListBody {
    if (this.element || this.inString || this.depth !== 0) throw new SyntaxError("LIST response ended in the middle of a JSON value");
    const parts: Buffer[] = [OPEN];
    for (const [i, item] of this.items.entries()) parts.push(...(i === 0 ? [item] : [COMMA, item]));
    parts.push(CLOSE);
    return {
      items: this.items,
      itemsArray: Buffer.concat(parts).toString("utf8"),
      oversized: this.oversized,
      envelope: Buffer.concat(this.envelope).toString("utf8"),
    };
  }

  private addEnvelope(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.envelopeBytes += bytes.length;
    if (this.envelopeBytes > this.maxEnvelopeBytes)
      throw new SyntaxError(`LIST response has over ${this.maxEnvelopeBytes} bytes outside its items: not a Kubernetes List`);
    this.envelope.push(bytes);
  }

  private addElement(bytes: Buffer): void {
    const element = this.element!;
    if (bytes.length === 0) return;
    element.bytes += bytes.length;
    if (element.prefixBytes < OVERSIZE_PREFIX_BYTES) {
      const take = bytes.subarray(0, OVERSIZE_PREFIX_BYTES - element.prefixBytes);
      // Copied: the prefix must not pin the whole chunk once the object is dropped.
      element.prefix.push(Buffer.from(take));
      element.prefixBytes += take.length;
    }
    if (element.over) return;
    if (element.bytes > this.maxObjectBytes) {
      element.over = true;
      element.chunks = [];
      return;
    }
    element.chunks.push(bytes);
    if (this.itemBytes + element.bytes > this.maxPageBytes) throw new PageOverCapError(this.maxPageBytes);
  }

  private finishElement(): void {
    const element = this.element!;
    this.element = undefined;
    if (element.over) {
      this.oversized.push({ bytes: element.bytes, prefix: Buffer.concat(element.prefix).toString("utf8") });
      return;
    }
    // A view when it lies in one chunk (the page is parsed, then dropped, as a whole).
    const item = element.chunks.length === 1 ? element.chunks[0]! : Buffer.concat(element.chunks, element.bytes);
    this.items.push(item);
    this.itemBytes += item.length;
  }
}
