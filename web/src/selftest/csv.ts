// Checks of the CSV pieces (csvprep.ts) the tests run in the browser against Python's csv module.
import { CsvParser, CsvReshaper, inspectCsv, type CsvPlan } from "../csvprep";

/** The records of `text`, fed to the parser in pieces cut at `cuts` (every split of a file into
 * reads must give the same records). */
export function csvRecords(text: string, delimiter: string, cuts: number[]): string[][] {
  const parser = new CsvParser(delimiter);
  const records: string[][] = [];
  let start = 0;
  for (const cut of [...cuts, text.length]) {
    records.push(...parser.push(text.slice(start, cut)));
    start = cut;
  }
  records.push(...parser.finish());
  return records;
}

export function csvInspect(sample: string, columns: string[]): CsvPlan {
  return inspectCsv(sample, columns);
}

/** The upload a file becomes, given in pieces cut at `cuts`; or the error. */
export function csvReshape(text: string, columns: string[], cuts: number[]): { out?: string; error?: string } {
  const plan = inspectCsv(text, columns);
  const reshaper = new CsvReshaper(plan);
  let out = "";
  let start = 0;
  try {
    for (const cut of [...cuts, text.length]) {
      out += reshaper.push(text.slice(start, cut));
      start = cut;
    }
    return { out: out + reshaper.finish() };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}
