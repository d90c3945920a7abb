// The dataset encryption worker (entry point of static/js/worker.js): encrypts a File in the
// SDK's chunk format (chunks.ts) and uploads it as the SDK does (src/sealroom/client/_upload.py):
//
//   POST /v1/uploads                      -> {upload_id}
//   PUT  /v1/uploads/{id}/chunks/{i}      ciphertext, X-Content-SHA256: hex   (idempotent)
//   POST /v1/uploads/{id}/complete        {manifest: canonical text, name, description}
//
// Invariants:
// * Streaming: the file is read through file.slice one piece at a time, never whole; the worker
//   holds at most about three chunks (the one being filled, the one being encrypted, the one
//   being uploaded) whatever the file size.
// * The dataset key is drawn here and leaves the worker only to the page that started it (in the
//   final message); no request carries it. The server receives ciphertext, the hashes of the
//   ciphertext and the manifest — nothing else about the file but its size and the given name.
// * The server's dataset id must equal the SHA-256 of the manifest made here, or the upload fails.
//
// Messages: the page posts StartMessage; the worker answers ProgressMessage* then DoneMessage or
// ErrorMessage. Headers are the page's (a CSRF token with the session cookie; a bearer token in
// tests) and are passed through as given.

import { fromUtf8, sha256Hex, utf8 } from "./bytes";
import { ChunkEncryptor, DEFAULT_CHUNK_SIZE, manifestBytes, newDatasetKey } from "./chunks";
import { CsvReshaper } from "./csvprep";

export interface ReshapePlan {
  delimiter: string;
  header: string[] | null;
  order: number[];
}

export interface StartMessage {
  type: "start";
  file: Blob;
  headers: Record<string, string>;
  chunkSize?: number;
  name: string;
  description?: string;
  /** Rewrite a CSV file into the upload's format while encrypting (csvprep.ts). */
  reshape?: ReshapePlan;
  /** The API's origin; the worker's own by default. */
  baseUrl?: string;
}

export interface ProgressMessage {
  type: "progress";
  /** Bytes of the file read, encrypted and uploaded so far. */
  done: number;
  total: number;
}

export interface DoneMessage {
  type: "done";
  datasetId: string;
  /** The dataset key: never sent to the server; the page must seal it or give it to the user. */
  key: Uint8Array;
  /** The manifest's canonical JSON text (its SHA-256 is datasetId). */
  manifest: string;
  /** Plaintext bytes encrypted (the file's size unless it was reshaped). */
  size: number;
}

export interface ErrorMessage {
  type: "error";
  message: string;
}

export type WorkerMessage = ProgressMessage | DoneMessage | ErrorMessage;

const READ_PIECE = 4 * 1024 * 1024;
const PUT_ATTEMPTS = 3;

/** Pieces of the plaintext, each with how many bytes of the file have been read once it is out. */
async function* plaintextPieces(
  file: Blob,
  reshape: ReshapePlan | undefined,
): AsyncGenerator<{ data: Uint8Array; fileOffset: number }> {
  const reshaper = reshape ? new CsvReshaper(reshape) : null;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (let offset = 0; offset < file.size; offset += READ_PIECE) {
    const end = Math.min(file.size, offset + READ_PIECE);
    const bytes = new Uint8Array(await file.slice(offset, end).arrayBuffer());
    if (bytes.length !== end - offset) throw new Error("the file changed while it was being read");
    const data = reshaper ? utf8(reshaper.push(decoder.decode(bytes, { stream: true }))) : bytes;
    yield { data, fileOffset: end };
  }
  if (reshaper) yield { data: utf8(reshaper.push(decoder.decode()) + reshaper.finish()), fileOffset: file.size };
}

class Uploader {
  constructor(
    private readonly baseUrl: string,
    private readonly headers: Record<string, string>,
  ) {}

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...this.headers };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(this.baseUrl + path, {
      method,
      headers,
      credentials: "same-origin",
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok) throw await failure(response);
    return (await response.json()) as T;
  }

  /** PUT one chunk; sent again on a network error, a 5xx or a corrupted arrival (idempotent). */
  async putChunk(
    uploadId: string,
    index: number,
    ciphertext: Uint8Array,
    sha256: string,
  ): Promise<void> {
    let last: unknown = null;
    for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
      let response: Response;
      try {
        response = await fetch(`${this.baseUrl}/v1/uploads/${uploadId}/chunks/${index}`, {
          method: "PUT",
          headers: {
            ...this.headers,
            "Content-Type": "application/octet-stream",
            "X-Content-SHA256": sha256,
          },
          credentials: "same-origin",
          body: ciphertext.slice().buffer as ArrayBuffer,
        });
      } catch (error) {
        last = error;
        continue;
      }
      if (response.ok) return;
      const error = await failure(response);
      last = error;
      if (response.status < 500 && error.code !== "chunk_hash_mismatch") break;
    }
    throw last instanceof Error ? last : new Error(`chunk ${index} could not be uploaded`);
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function failure(response: Response): Promise<HttpError> {
  try {
    const body = (await response.json()) as { code?: string; detail?: string };
    return new HttpError(response.status, body.code ?? "error", body.detail ?? response.statusText);
  } catch {
    return new HttpError(response.status, "error", `${response.status} ${response.statusText}`);
  }
}

/** Encrypt and upload `start.file`; `post` receives the progress and the outcome. */
export async function encryptAndUploadInWorker(
  start: StartMessage,
  post: (message: WorkerMessage) => void,
): Promise<void> {
  const chunkSize = start.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const key = newDatasetKey();
  const encryptor = new ChunkEncryptor(key, chunkSize);
  const api = new Uploader(start.baseUrl ?? "", start.headers);
  const total = start.file.size;
  const { upload_id: uploadId } = await api.json<{ upload_id: string }>("POST", "/v1/uploads");
  if (!/^[0-9a-f]{1,64}$/.test(uploadId)) throw new Error("the server answered a malformed upload id");

  let index = 0;
  let plaintextSize = 0;
  let inFlight: Promise<void> = Promise.resolve();
  // A full chunk waits here until more data (it was not the last) or the end (it was).
  let pending: { data: Uint8Array; fileOffset: number } | null = null;
  let filling = new Uint8Array(chunkSize);
  let filled = 0;

  const send = async (data: Uint8Array, fileOffset: number, last: boolean): Promise<void> => {
    const chunk = await encryptor.encryptChunk(data, index, last);
    plaintextSize += data.length;
    index += 1;
    // One upload in flight while the next chunk is read and encrypted.
    await inFlight;
    inFlight = api.putChunk(uploadId, chunk.index, chunk.ciphertext, chunk.sha256).then(() => {
      post({ type: "progress", done: fileOffset, total });
    });
  };

  for await (const piece of plaintextPieces(start.file, start.reshape)) {
    let offset = 0;
    while (offset < piece.data.length) {
      if (pending !== null) {
        await send(pending.data, pending.fileOffset, false);
        pending = null;
      }
      const take = Math.min(chunkSize - filled, piece.data.length - offset);
      filling.set(piece.data.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled === chunkSize) {
        pending = { data: filling, fileOffset: piece.fileOffset };
        filling = new Uint8Array(chunkSize);
        filled = 0;
      }
    }
  }
  if (pending !== null) await send(pending.data, pending.fileOffset, true);
  else await send(filling.subarray(0, filled), total, true); // short last chunk, or an empty file
  await inFlight;

  const manifest = await encryptor.manifest();
  const manifestText = fromUtf8(manifestBytes(manifest));
  const datasetId = await sha256Hex(manifestBytes(manifest));
  const dataset = await api.json<{ id: string }>("POST", `/v1/uploads/${uploadId}/complete`, {
    manifest: manifestText,
    name: start.name,
    description: start.description ?? "",
  });
  if (dataset.id !== datasetId) {
    throw new Error(
      `the server registered dataset ${dataset.id}, but its manifest hashes to ${datasetId}`,
    );
  }
  post({ type: "done", datasetId, key, manifest: manifestText, size: plaintextSize });
}

// Runs only as a worker: a module importing this file for its types does nothing.
declare const WorkerGlobalScope: { new (): unknown } | undefined;
if (typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) {
  let started = false;
  self.addEventListener("message", (event: MessageEvent<StartMessage>) => {
    if (started || event.data?.type !== "start") return; // one file per worker
    started = true;
    const post = (message: WorkerMessage): void => self.postMessage(message);
    encryptAndUploadInWorker(event.data, post).catch((error: unknown) => {
      post({ type: "error", message: error instanceof Error ? error.message : String(error) });
    });
  });
}
