// The tables a SQL query names, found as the builder's author types: enough to propose a SQL
// computation's dependencies and to warn about a table the room does not have. It is a hint,
// not a gate: the server parses the query with sqlglot when it makes the draft, and the core
// checks it again when it publishes the room (sealroom.compute.sql.references). Declaring a
// dependency the query does not read is allowed there; reading one not declared is refused.

export interface Token {
  kind: "word" | "quoted" | "punct";
  /** A word as written; a quoted identifier without its quotes ("" unescaped). */
  text: string;
}

/** The query's tokens, without comments, whitespace and string literals ('...' never names a
 * table here: a file path in FROM is refused by the server anyway). */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) { i += 1; continue; }
    if (c === "-" && sql[i + 1] === "-") { const end = sql.indexOf("\n", i); i = end < 0 ? sql.length : end + 1; continue; }
    if (c === "/" && sql[i + 1] === "*") { const end = sql.indexOf("*/", i + 2); i = end < 0 ? sql.length : end + 2; continue; }
    if (c === "'") {
      i += 1;
      while (i < sql.length) {
        if (sql[i] === "'" && sql[i + 1] === "'") { i += 2; continue; }
        if (sql[i] === "'") break;
        i += 1;
      }
      i += 1;
      continue;
    }
    if (c === '"') {
      let text = "";
      i += 1;
      while (i < sql.length) {
        if (sql[i] === '"' && sql[i + 1] === '"') { text += '"'; i += 2; continue; }
        if (sql[i] === '"') break;
        text += sql[i];
        i += 1;
      }
      i += 1;
      tokens.push({ kind: "quoted", text });
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(sql.slice(i, i + 200));
    if (word) { tokens.push({ kind: "word", text: word[0] }); i += word[0].length; continue; }
    const number = /^[0-9][0-9.eE+-]*/.exec(sql.slice(i, i + 100));
    if (number) { i += number[0].length; continue; }
    tokens.push({ kind: "punct", text: c });
    i += 1;
  }
  return tokens;
}

// Words that end a FROM list or cannot be a table or alias there.
const KEYWORDS = new Set([
  "SELECT", "FROM", "WHERE", "GROUP", "ORDER", "BY", "HAVING", "LIMIT", "OFFSET", "FETCH", "UNION",
  "EXCEPT", "INTERSECT", "JOIN", "LEFT", "RIGHT", "INNER", "OUTER", "FULL", "CROSS", "NATURAL",
  "ON", "USING", "AS", "WINDOW", "QUALIFY", "LATERAL", "POSITIONAL", "ASOF", "ANTI", "SEMI",
  "SAMPLE", "TABLESAMPLE", "PIVOT", "UNPIVOT", "VALUES", "WITH", "RECURSIVE", "ALL", "DISTINCT",
  "AND", "OR", "NOT", "IN", "IS", "NULL", "CASE", "WHEN", "THEN", "ELSE", "END", "TABLE",
]);

function isName(token: Token | undefined): token is Token {
  return token !== undefined && (token.kind === "quoted" || (token.kind === "word" && !KEYWORDS.has(token.text.toUpperCase())));
}

/** Names of the common table expressions the query defines (`name AS (`), folded to lower
 * case: they are not tables of the room. */
export function cteNames(tokens: Token[]): Set<string> {
  const names = new Set<string>();
  tokens.forEach((token, index) => {
    const as = tokens[index + 1];
    const open = tokens[index + 2];
    if (isName(token) && as?.kind === "word" && as.text.toUpperCase() === "AS" && open?.text === "(") {
      names.add(token.text.toLowerCase());
    }
  });
  return names;
}

/** The table names the query reads after FROM, JOIN and TABLE (and in comma lists after FROM),
 * as written, in order of appearance, without duplicates (compared ignoring case) and without
 * the query's own CTE names. Table functions (`read_csv(...)`) are not names. */
export function tablesNamed(sql: string): string[] {
  const tokens = tokenize(sql);
  const ctes = cteNames(tokens);
  const found = new Map<string, string>();
  tokens.forEach((token, index) => {
    if (token.kind !== "word" || !["FROM", "JOIN", "TABLE"].includes(token.text.toUpperCase())) return;
    let j = index + 1;
    for (;;) {
      const name = tokens[j];
      if (!isName(name)) break;
      if (tokens[j + 1]?.text === "(") break; // a table function
      while (tokens[j + 1]?.text === "." && isName(tokens[j + 2])) j += 2; // schema.table: the server refuses it
      const table = tokens[j]!.text;
      if (!ctes.has(table.toLowerCase()) && !found.has(table.toLowerCase())) found.set(table.toLowerCase(), table);
      j += 1;
      if (tokens[j]?.kind === "word" && tokens[j]!.text.toUpperCase() === "AS") j += 1;
      if (isName(tokens[j])) j += 1; // an alias
      if (tokens[j]?.text !== ",") break;
      j += 1;
    }
  });
  return [...found.values()];
}

/** How a name is written in SQL: bare when it is a plain identifier, else double-quoted. */
export function sqlName(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !KEYWORDS.has(name.toUpperCase()) ? name : `"${name.replaceAll('"', '""')}"`;
}
