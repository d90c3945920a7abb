// Reading the files of a zip archive: a script's result (its /output, zipped by the core with
// Python's zipfile, "stored" or "deflated"), opened here after its release was verified.
//
// Invariants: only what the central directory lists is read, each entry's bytes within the
// archive; ZIP64, encryption and methods other than stored (0) and deflated (8) are refused with
// an error in words; an entry that says it is larger than MAX_ENTRY_BYTES is not inflated, and
// one that inflates to another size than it says is refused. Inflating is the browser's own
// DecompressionStream("deflate-raw"). CRCs are not checked: the archive's integrity is already
// that of the sealed result (AES-GCM) and of the core's signature over it.

/** The most one file of a result may inflate to (a user list of millions of ids fits). */
export const MAX_ENTRY_BYTES = 512 * 1024 * 1024;

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_FILE_HEADER = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;

export class ZipError extends Error {
  constructor(message: string) {
    super(`the result archive cannot be read: ${message}`);
    this.name = "ZipError";
  }
}

interface Entry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** The names and locations of the archive's files (from its central directory). */
function entries(archive: Uint8Array): Map<string, Entry> {
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  // The end record is 22 bytes plus a comment of at most 65535: search back from the end.
  let end = -1;
  for (let at = archive.length - 22; at >= Math.max(0, archive.length - 22 - 0xffff); at--) {
    if (view.getUint32(at, true) === END_OF_CENTRAL_DIRECTORY) {
      end = at;
      break;
    }
  }
  if (end < 0) throw new ZipError("no end of central directory");
  const count = view.getUint16(end + 10, true);
  const directorySize = view.getUint32(end + 12, true);
  let at = view.getUint32(end + 16, true);
  if (count === 0xffff || at === 0xffffffff || at + directorySize > end) {
    throw new ZipError("ZIP64 archives are not read here");
  }
  const found = new Map<string, Entry>();
  const names = new TextDecoder("utf-8", { fatal: true });
  for (let i = 0; i < count; i++) {
    if (at + 46 > end || view.getUint32(at, true) !== CENTRAL_FILE_HEADER) throw new ZipError("a damaged central directory");
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const entry: Entry = {
      name: names.decode(archive.subarray(at + 46, at + 46 + nameLength)),
      flags: view.getUint16(at + 8, true),
      method: view.getUint16(at + 10, true),
      compressedSize: view.getUint32(at + 20, true),
      size: view.getUint32(at + 24, true),
      localOffset: view.getUint32(at + 42, true),
    };
    found.set(entry.name, entry);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return found;
}

/** The names of the archive's files. */
export function zipNames(archive: Uint8Array): string[] {
  return [...entries(archive).keys()];
}

/** The bytes of the file `name` of the archive, or null when it has no such file. */
export async function readZipEntry(archive: Uint8Array, name: string): Promise<Uint8Array | null> {
  const entry = entries(archive).get(name);
  if (!entry) return null;
  if (entry.flags & 0x1) throw new ZipError(`${name} is encrypted`);
  if (entry.size > MAX_ENTRY_BYTES) throw new ZipError(`${name} is larger than ${MAX_ENTRY_BYTES} bytes`);
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  const local = entry.localOffset;
  if (local + 30 > archive.length || view.getUint32(local, true) !== LOCAL_FILE_HEADER) {
    throw new ZipError(`no local header for ${name}`);
  }
  const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
  const stop = start + entry.compressedSize;
  if (stop > archive.length) throw new ZipError(`${name} runs past the end of the archive`);
  const compressed = archive.slice(start, stop);
  if (entry.method === STORED) return compressed;
  if (entry.method !== DEFLATED) throw new ZipError(`${name} uses compression method ${entry.method}`);
  return inflate(compressed, entry.size, name);
}

/** Inflate raw deflate data that must come to exactly `size` bytes; stops reading as soon as
 * it comes to more. */
async function inflate(compressed: Uint8Array, size: number, name: string): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let filled = 0;
  const reader = new Blob([compressed as BlobPart]).stream().pipeThrough(new DecompressionStream("deflate-raw")).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (filled + value.length > size) throw new ZipError(`${name} inflates to more than the archive says`);
      out.set(value, filled);
      filled += value.length;
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    if (error instanceof ZipError) throw error;
    throw new ZipError(`${name} is not valid deflate data`);
  } finally {
    reader.releaseLock();
  }
  if (filled !== size) throw new ZipError(`${name} inflates to less than the archive says`);
  return out;
}
