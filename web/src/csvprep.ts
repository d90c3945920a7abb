// Turning a CSV file as people have it into a table node's upload, in the browser, as
// sealroom.analytics.provisioning.prepare_table does on the SDK user's machine: the upload is
// UTF-8, comma-delimited, without a header row, with the node's columns in the node's order.
//
// `inspectCsv` reads a sample (the first 64 KiB) and decides the delimiter and whether the first
// record is a header; a header's columns are mapped to the node's by name (case, spaces, "_" and
// "-" aside), and a missing, extra or repeated column is refused with the closest name.
// `CsvReshaper` then rewrites the whole file record by record, streaming (text in, text out), or
// the file is sent byte for byte when it is already in the upload's format.

export const SAMPLE_BYTES = 64 * 1024;
const DELIMITERS = [",", ";", "\t", "|"] as const;
const SAMPLE_RECORDS = 50;

export interface CsvPlan {
  delimiter: string;
  header: string[] | null;
  /** For each node column, the index of the file's column that fills it. */
  order: number[];
  /** True when the file can be uploaded as it is (no header, commas, the node's order). */
  asIs: boolean;
  problems: string[];
  /** The first records after any header, for the owner to check the mapping. */
  preview: string[][];
}

export function normaliseName(name: string): string {
  return name.trim().toLowerCase().replace(/[\s_-]+/g, "");
}

/** Parse complete records from `text` (a sample: the last, maybe cut, record is dropped). */
export function sampleRecords(text: string, delimiter: string, limit: number): string[][] {
  const parser = new CsvParser(delimiter);
  const records = parser.push(text);
  return records.slice(0, limit);
}

export function inspectCsv(sample: string, columns: readonly string[]): CsvPlan {
  const text = sample.startsWith("\uFEFF") ? sample.slice(1) : sample;
  const delimiter = detectDelimiter(text);
  const records = sampleRecords(text, delimiter, SAMPLE_RECORDS + 1);
  const problems: string[] = [];
  const first = records[0] ?? [];
  const wanted = columns.map(normaliseName);
  const matches = first.filter((field) => wanted.includes(normaliseName(field))).length;
  const isHeader = first.length > 0 && matches * 2 >= first.length && matches > 0;
  let order = columns.map((_, index) => index);
  if (isHeader) {
    const names = first.map(normaliseName);
    order = [];
    for (const [index, column] of columns.entries()) {
      const found = names.indexOf(wanted[index]!);
      if (found < 0) {
        problems.push(`the file has no column ${JSON.stringify(column)}${closest(column, first)}`);
      } else if (names.indexOf(wanted[index]!, found + 1) >= 0) {
        problems.push(`the file has the column ${JSON.stringify(column)} more than once`);
      }
      order.push(found);
    }
    for (const field of first) {
      if (!wanted.includes(normaliseName(field))) {
        problems.push(
          `the file's column ${JSON.stringify(field)} is not a column of this table${closest(field, [...columns])}`,
        );
      }
    }
  }
  const body = isHeader ? records.slice(1) : records;
  const width = isHeader ? first.length : columns.length;
  const bad = body.findIndex((record) => record.length !== width);
  if (bad >= 0) {
    const row = bad + 1 + (isHeader ? 1 : 0);
    problems.push(
      `line ${row} of the file has ${body[bad]!.length} fields, the table has ${width} columns`,
    );
  }
  const identity = order.every((value, index) => value === index);
  return {
    delimiter,
    header: isHeader ? first : null,
    order,
    asIs: !isHeader && delimiter === "," && identity && !sample.startsWith("\uFEFF"),
    problems,
    preview: body.slice(0, 5).map((record) => order.map((index) => record[index] ?? "")),
  };
}

function detectDelimiter(text: string): string {
  for (const delimiter of DELIMITERS) {
    const records = sampleRecords(text, delimiter, SAMPLE_RECORDS).filter((r) => r.length > 0);
    const widths = new Set(records.map((record) => record.length));
    if (records.length > 0 && widths.size === 1 && records[0]!.length > 1) return delimiter;
  }
  return ",";
}

function closest(name: string, candidates: readonly string[]): string {
  let best = "";
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(normaliseName(name), normaliseName(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best && bestDistance <= Math.max(2, name.length / 3) ? ` (did you mean ${JSON.stringify(best)}?)` : "";
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** An incremental RFC 4180 parser: quotes, doubled quotes, delimiters and newlines in quotes,
 * CRLF or LF line ends. `push` returns the records completed by the text given so far. */
export class CsvParser {
  private field = "";
  private record: string[] = [];
  private quoted = false;
  private afterQuote = false;
  private pendingCr = false;
  /** An unfinished line kept by the fast path for the next push. */
  private carry = "";
  /** Whether the last push was read by the fast path (its fields hold no quote, CR or LF). */
  lastWasFast = false;

  constructor(private readonly delimiter: string) {}

  push(text: string): string[][] {
    text = this.carry + text;
    this.carry = "";
    this.lastWasFast = false;
    // Fast path, for the usual file: no quote anywhere in this text, no bare CR line ends, and
    // the parser between records. Whole lines are split with the engine's own split (about ten
    // times faster than the character loop below); the last, unfinished line waits.
    const clean = !this.quoted && !this.afterQuote && !this.pendingCr && this.field === "" && this.record.length === 0;
    if (clean && !text.includes('"') && !(text.includes("\r") && /\r(?!\n)/.test(text))) {
      const cut = text.lastIndexOf("\n");
      if (cut < 0) {
        this.carry = text;
        return [];
      }
      this.carry = text.slice(cut + 1);
      this.lastWasFast = true;
      return text.slice(0, cut).split("\n").map((line) =>
        (line.endsWith("\r") ? line.slice(0, -1) : line).split(this.delimiter));
    }
    return this.parse(text);
  }

  private parse(text: string): string[][] {
    const done: string[][] = [];
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (this.pendingCr) {
        this.pendingCr = false;
        if (ch === "\n") continue;
      }
      if (this.quoted) {
        if (ch === '"') {
          this.quoted = false;
          this.afterQuote = true;
        } else {
          this.field += ch;
        }
        continue;
      }
      if (ch === '"') {
        if (this.afterQuote) this.field += '"';
        this.quoted = true;
        this.afterQuote = false;
      } else if (ch === this.delimiter) {
        this.record.push(this.field);
        this.field = "";
        this.afterQuote = false;
      } else if (ch === "\n" || ch === "\r") {
        this.record.push(this.field);
        done.push(this.record);
        this.record = [];
        this.field = "";
        this.afterQuote = false;
        this.pendingCr = ch === "\r";
      } else {
        this.field += ch;
        this.afterQuote = false;
      }
    }
    return done;
  }

  /** The last record if the file did not end with a line break. */
  finish(): string[][] {
    const done = this.carry ? this.parse(this.carry) : [];
    this.carry = "";
    if (this.field === "" && this.record.length === 0) return done;
    this.record.push(this.field);
    const last = this.record;
    this.record = [];
    this.field = "";
    return [...done, last];
  }
}

/** Rewrites records into the upload's format: comma-delimited, node order, no header. */
export class CsvReshaper {
  private readonly parser: CsvParser;
  private readonly width: number;
  private skipHeader: boolean;
  private first = true;
  private records = 0;

  constructor(private readonly plan: Pick<CsvPlan, "delimiter" | "header" | "order">) {
    this.parser = new CsvParser(plan.delimiter);
    this.skipHeader = plan.header !== null;
    this.width = plan.header?.length ?? plan.order.length;
  }

  push(text: string): string {
    if (this.first) {
      this.first = false;
      if (text.startsWith("\uFEFF")) text = text.slice(1);
    }
    const records = this.parser.push(text);
    return this.write(records, this.parser.lastWasFast);
  }

  finish(): string {
    return this.write(this.parser.finish(), false);
  }

  /** `plain`: the records came from the fast path, so no field holds a quote, CR or LF. */
  private write(records: string[][], plain: boolean): string {
    // Fields split on commas hold no comma either: then nothing needs quoting.
    const verbatim = plain && this.plan.delimiter === ",";
    const parts: string[] = [];
    for (const record of records) {
      this.records += 1;
      if (this.skipHeader) {
        this.skipHeader = false;
        continue;
      }
      if (record.length === 1 && record[0] === "") continue; // a blank line
      if (record.length !== this.width) {
        // Never pad or cut a record: that would shift or invent values.
        throw new Error(
          `record ${this.records} of the file has ${record.length} fields, not ${this.width}`,
        );
      }
      parts.push(this.plan.order.map((index) => (verbatim ? record[index]! : quote(record[index]!))).join(","));
    }
    return parts.length ? parts.join("\n") + "\n" : "";
  }
}

function quote(field: string): string {
  return /[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}
