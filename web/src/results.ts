// A job's result, opened in the browser (Session.get_computation_result): the core sealed it to
// the recipient key this page named when it submitted the job, and signed a release naming room,
// node, job, parameters, that key, the format and the sealed bytes' hash. The release is checked
// against the attested core key *before* opening; the server never sees the plaintext or the key.
//
// Also CSV (RFC 4180) in and out, for showing a result as a table and downloading it.

import { fromHex, toHex } from "./bytes";
import { openSealed, resultContext, type KemKeyPair } from "./sealing";
import { resultReleaseOf, verifyResultRelease } from "./signed";
import { type CoreKeys, type Fetcher, VerificationError } from "./trust";

export const RESULT_SIGNATURE_HEADER = "Sealroom-Result-Signature";
export const RESULT_FORMAT_HEADER = "Sealroom-Result-Format";
/** The formats the core picks when a result is fetched without naming one. */
const DEFAULT_FORMATS = new Set(["csv", "zip"]);

export interface ResultToOpen {
  /** The attested core (its Ed25519 key checks the release). */
  core: CoreKeys;
  roomId: string;
  node: string;
  jobId: string;
  /** The parameters the job was submitted with (the release names them). */
  parameters?: Record<string, string>;
  /** The key pair named when the job was submitted (its private half never leaves WebCrypto). */
  recipient: KemKeyPair & { readonly publicKeyRaw: Uint8Array };
  /** The format this page asked for; null or absent: the core chose (formatHeader). */
  format?: string | null;
  sealed: Uint8Array;
  /** The Sealroom-Result-Signature header (hex); "" when absent. */
  signatureHex: string;
  /** The Sealroom-Result-Format header. */
  formatHeader?: string;
}

/** The format a result is verified and opened as: the one asked for, else the core's choice
 * only if it is csv or zip (each kind's one default, so a server cannot pass one kind's result
 * off as the other's). */
export function releasedFormat(requested: string | null | undefined, header: string | undefined): string | null {
  if (requested) return requested;
  return header !== undefined && DEFAULT_FORMATS.has(header) ? header : null;
}

/** Verify the core's release of the sealed result to this page's key, then open it: the
 * plaintext bytes. VerificationError when the release does not verify (nothing is opened then);
 * the one opening error of sealing.ts when the bytes do not open. */
export async function openResult(result: ResultToOpen): Promise<Uint8Array> {
  const format = releasedFormat(result.format, result.formatHeader);
  if (format === null) throw new VerificationError(`job ${result.jobId}: the server did not say the result's format`);
  let signature: Uint8Array;
  try {
    signature = fromHex(result.signatureHex);
  } catch {
    signature = new Uint8Array(0);
  }
  const release = await resultReleaseOf(
    {
      roomId: result.roomId,
      node: result.node,
      jobId: result.jobId,
      parameters: { ...(result.parameters ?? {}) },
      recipientPublicKey: toHex(result.recipient.publicKeyRaw),
      format,
    },
    result.sealed,
  );
  await verifyResultRelease(release, signature, result.core.verifyKey);
  return openSealed(result.recipient, result.sealed, resultContext(result.roomId, result.jobId, format));
}

export interface SealedResult {
  sealed: Uint8Array;
  signatureHex: string;
  formatHeader: string;
}

/** POST /v1/jobs/{id}/result: the sealed bytes and the release headers. `proof` is the
 * participant's signature of the retrieve_result action (Sealroom-Proof header). */
export async function fetchSealedResult(
  fetcher: Fetcher,
  jobId: string,
  recipientPublicKey: Uint8Array,
  options: { format?: string | null; proof?: string; waitSeconds?: number } = {},
): Promise<SealedResult> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (options.proof) headers["Sealroom-Proof"] = options.proof;
  const query = options.waitSeconds ? `?wait=${options.waitSeconds}` : "";
  const response = await fetcher.request(`/v1/jobs/${jobId}/result${query}`, {
    method: "POST",
    headers,
    body: JSON.stringify({ recipient_public_key: toHex(recipientPublicKey), format: options.format ?? null }),
  });
  return {
    sealed: new Uint8Array(await response.arrayBuffer()),
    signatureHex: response.headers.get(RESULT_SIGNATURE_HEADER) ?? "",
    formatHeader: response.headers.get(RESULT_FORMAT_HEADER) ?? "",
  };
}

// -- CSV --------------------------------------------------------------------------------------

export interface Table {
  readonly columns: string[];
  readonly rows: string[][];
}

/** Parse CSV (RFC 4180: quoted fields with "" for a quote, embedded commas and line breaks,
 * CRLF or LF line ends, an optional final line break). The first record is the header; every
 * record must have as many fields as it. Throws on an unclosed quoted field, characters after a
 * closing quote, or a ragged row (a quote inside an unquoted field is kept, as Python reads it). */
export function parseCsv(text: string): Table {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  // A byte-order mark (spreadsheets write one) is not part of the first column's name.
  let i = text.startsWith("\uFEFF") ? 1 : 0;
  let quoted = false;
  let fieldStarted = false;
  const n = text.length;
  const endField = () => {
    record.push(field);
    field = "";
    fieldStarted = false;
  };
  const endRecord = () => {
    // A blank line is no record (as Python's csv module reads it); a quoted "" is a value.
    const blank = record.length === 0 && field === "" && !fieldStarted;
    endField();
    if (!blank) records.push(record);
    record = [];
  };
  while (i < n) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        const next = text[i];
        if (next !== undefined && next !== "," && next !== "\n" && next !== "\r") {
          throw new Error(`CSV record ${records.length + 1}: characters after a closing quote`);
        }
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && fieldStarted) {
      // A quote inside an unquoted field is kept as it is (as Python's csv module reads it).
      field += c;
      i++;
    } else if (c === '"') {
      quoted = true;
      fieldStarted = true;
      i++;
    } else if (c === ",") {
      endField();
      i++;
    } else if (c === "\r" || c === "\n") {
      endRecord();
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
    } else {
      field += c;
      fieldStarted = true;
      i++;
    }
  }
  if (quoted) throw new Error(`CSV record ${records.length + 1}: a quoted field is not closed`);
  // A last record without a final line break (but not the empty remainder after one).
  if (fieldStarted || field !== "" || record.length > 0) endRecord();
  if (records.length === 0) return { columns: [], rows: [] };
  const [columns, ...rows] = records as [string[], ...string[][]];
  rows.forEach((row, index) => {
    if (row.length !== columns.length) {
      throw new Error(`CSV record ${index + 2}: ${row.length} fields, the header has ${columns.length}`);
    }
  });
  return { columns, rows };
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** CSV of a table (header first), CRLF line ends as RFC 4180 says; quotes only where needed. */
export function toCsv(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  return [columns, ...rows].map((row) => row.map(csvField).join(",") + "\r\n").join("");
}
