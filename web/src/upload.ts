// The page's side of the encryption worker (worker.ts): start it with a File, follow its
// progress, get the dataset id, the key and the manifest back. The key comes back to the page
// only (the page seals it to the attested core, or offers it to the user); the server never
// receives it.

import type { ReshapePlan, StartMessage, WorkerMessage } from "./worker";

export interface UploadOptions {
  /** Headers for every request (the page's X-CSRF-Token; Authorization in tests). */
  headers: Record<string, string>;
  /** Plaintext bytes per chunk (the SDK's default, 8 MiB, if not given). */
  chunkSize?: number;
  /** The dataset's name on the server (the file's name by default). */
  name?: string;
  description?: string;
  reshape?: ReshapePlan;
  onProgress?: (done: number, total: number) => void;
  /** Where the worker script is (tests may serve it elsewhere). */
  workerUrl?: string;
}

export interface UploadedDataset {
  datasetId: string;
  key: Uint8Array;
  /** The manifest's canonical JSON text. */
  manifest: string;
  size: number;
}

/** Encrypt `file` in a Web Worker, streaming, and upload it; resolves once the server has
 * registered the dataset under the id its manifest hashes to. */
export function encryptAndUpload(file: File | Blob, options: UploadOptions): Promise<UploadedDataset> {
  const worker = new Worker(options.workerUrl ?? "/static/js/worker.js", { type: "module" });
  return new Promise<UploadedDataset>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
      const message = event.data;
      if (message.type === "progress") {
        options.onProgress?.(message.done, message.total);
      } else if (message.type === "done") {
        worker.terminate();
        resolve({
          datasetId: message.datasetId,
          key: message.key,
          manifest: message.manifest,
          size: message.size,
        });
      } else {
        worker.terminate();
        reject(new Error(message.message));
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      worker.terminate();
      reject(new Error(event.message || "the encryption worker failed to start"));
    };
    const start: StartMessage = {
      type: "start",
      file,
      headers: options.headers,
      name: options.name ?? (file instanceof File && file.name ? file.name : "dataset"),
      ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
      ...(options.description === undefined ? {} : { description: options.description }),
      ...(options.reshape === undefined ? {} : { reshape: options.reshape }),
    };
    worker.postMessage(start);
  });
}
