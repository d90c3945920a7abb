// src/bytes.ts
var encoder = new TextEncoder();
var decoder = new TextDecoder("utf-8", { fatal: true });
function utf8(text) {
  return encoder.encode(text);
}
function fromUtf8(data) {
  return decoder.decode(data);
}
function toHex(data) {
  let out = "";
  for (const byte of data) out += byte.toString(16).padStart(2, "0");
  return out;
}
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
function buffer(data) {
  return data.slice().buffer;
}
async function sha256(data) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buffer(data)));
}
async function sha256Hex(data) {
  return toHex(await sha256(data));
}

// src/canonical.ts
var MAX_DEPTH = 64;
function canonicalJson(value) {
  return utf8(encode(value, 0));
}
function encode(value, depth) {
  if (depth > MAX_DEPTH) throw new Error(`canonical JSON: nesting deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error("canonical JSON: only safe integers");
    return String(value);
  }
  if (typeof value === "string") return encodeString(value);
  if (Array.isArray(value)) return `[${value.map((item) => encode(item, depth + 1)).join(",")}]`;
  const keys = Object.keys(value);
  for (const key of keys) {
    if (/[\uD800-\uDFFF]/.test(key)) throw new Error("canonical JSON: key outside the BMP");
  }
  keys.sort();
  const fields = keys.map((key) => `${encodeString(key)}:${encode(value[key], depth + 1)}`);
  return `{${fields.join(",")}}`;
}
function encodeString(text) {
  if (!text.isWellFormed()) throw new Error("canonical JSON: a lone surrogate");
  return JSON.stringify(text);
}

// src/chunks.ts
var ALGORITHM = "AES-256-GCM-HKDF-SHA256-STREAM";
var MANIFEST_VERSION = 2;
var KEY_SIZE = 32;
var SALT_SIZE = 32;
var NONCE_PREFIX_SIZE = 7;
var KEY_COMMITMENT_SIZE = 32;
var TAG_SIZE = 16;
var MIN_CHUNK_SIZE = 1;
var MAX_CHUNK_SIZE = 64 * 1024 * 1024;
var MAX_CHUNKS = 1e6;
var DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;
var CHUNK_DOMAIN = utf8("sealroom/dataset-chunk/v2");
var KEY_COMMITMENT_DOMAIN = utf8("sealroom/dataset-key-commitment/v2");
function newDatasetKey() {
  return crypto.getRandomValues(new Uint8Array(KEY_SIZE));
}
function manifestBytes(manifest) {
  return canonicalJson({
    version: manifest.version,
    algorithm: manifest.algorithm,
    salt: manifest.salt,
    nonce_prefix: manifest.nonce_prefix,
    chunk_size: manifest.chunk_size,
    key_commitment: manifest.key_commitment,
    chunks: manifest.chunks.map((c) => ({ sha256: c.sha256, size: c.size })),
    plaintext_size: manifest.plaintext_size
  });
}
async function datasetIdOf(manifest) {
  return sha256Hex(manifestBytes(manifest));
}
var FIXED = /* @__PURE__ */ Symbol("fixed randomness for known-answer tests");
var ChunkEncryptor = class _ChunkEncryptor {
  chunkSize;
  salt;
  noncePrefix;
  state;
  refs = [];
  nextIndex = 0;
  plaintextSize = 0;
  finished = false;
  busy = false;
  constructor(key, chunkSize = DEFAULT_CHUNK_SIZE, fixed) {
    this.chunkSize = checkChunkSize(chunkSize);
    checkKey(key);
    if (fixed !== void 0 && fixed.token !== FIXED) throw new Error("not a test encryptor");
    this.salt = fixed?.salt.slice() ?? crypto.getRandomValues(new Uint8Array(SALT_SIZE));
    this.noncePrefix = fixed?.noncePrefix.slice() ?? crypto.getRandomValues(new Uint8Array(NONCE_PREFIX_SIZE));
    if (this.salt.length !== SALT_SIZE || this.noncePrefix.length !== NONCE_PREFIX_SIZE) {
      throw new Error("salt must be 32 bytes and nonce prefix 7 bytes");
    }
    this.state = setup(key, chunkSize, this.salt, this.noncePrefix);
  }
  /** Known-answer tests only (as Python's _with_fixed_randomness): fixed salts reuse nonces. */
  static withFixedRandomness(key, chunkSize, salt, noncePrefix) {
    return new _ChunkEncryptor(key, chunkSize, { token: FIXED, salt, noncePrefix });
  }
  /** Encrypt chunk `index` (must be the next one). `last` marks the final chunk; after it the
   * manifest is available and nothing more can be encrypted. */
  async encryptChunk(plaintext, index, last) {
    if (this.busy) throw new Error("encrypt one chunk at a time, in order");
    if (this.finished) throw new Error("the last chunk has been encrypted; use a new encryptor");
    if (index !== this.nextIndex) {
      throw new Error(`chunk ${index} out of order: expected chunk ${this.nextIndex}`);
    }
    if (index >= MAX_CHUNKS) {
      throw new Error(`dataset exceeds ${MAX_CHUNKS} chunks; use a larger chunk size`);
    }
    if (last) {
      const smallest = index === 0 ? 0 : 1;
      if (plaintext.length < smallest || plaintext.length > this.chunkSize) {
        throw new Error(`the last chunk must hold ${smallest} to ${this.chunkSize} bytes`);
      }
    } else if (plaintext.length !== this.chunkSize) {
      throw new Error(`every chunk but the last must hold exactly ${this.chunkSize} bytes`);
    }
    this.busy = true;
    try {
      const state = await this.state;
      const ciphertext = new Uint8Array(
        await crypto.subtle.encrypt(
          {
            name: "AES-GCM",
            iv: buffer(chunkNonce(this.noncePrefix, index, last)),
            additionalData: buffer(state.header),
            tagLength: TAG_SIZE * 8
          },
          state.subkey,
          buffer(plaintext)
        )
      );
      const digest = await sha256Hex(ciphertext);
      this.refs.push({ sha256: digest, size: ciphertext.length });
      this.plaintextSize += plaintext.length;
      this.nextIndex = index + 1;
      this.finished = last;
      return { index, ciphertext, sha256: digest };
    } finally {
      this.busy = false;
    }
  }
  /** The manifest; throws before the last chunk has been encrypted. */
  async manifest() {
    if (!this.finished) {
      throw new Error("the manifest exists only once the whole stream has been encrypted");
    }
    const state = await this.state;
    return {
      version: MANIFEST_VERSION,
      algorithm: ALGORITHM,
      salt: toHex(this.salt),
      nonce_prefix: toHex(this.noncePrefix),
      chunk_size: this.chunkSize,
      key_commitment: toHex(state.keyCommitment),
      chunks: this.refs.map((ref) => ({ ...ref })),
      plaintext_size: this.plaintextSize
    };
  }
  async datasetId() {
    return datasetIdOf(await this.manifest());
  }
};
function checkKey(key) {
  if (!(key instanceof Uint8Array) || key.length !== KEY_SIZE) {
    throw new Error(`a dataset key is ${KEY_SIZE} bytes`);
  }
}
function checkChunkSize(chunkSize) {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new Error(`chunk_size must be between ${MIN_CHUNK_SIZE} and ${MAX_CHUNK_SIZE} bytes`);
  }
  return chunkSize;
}
async function setup(key, chunkSize, salt, noncePrefix) {
  const ikm = await crypto.subtle.importKey("raw", buffer(key), "HKDF", false, ["deriveBits"]);
  const subkeyBytes = await hkdf(ikm, salt, CHUNK_DOMAIN, 32);
  const keyCommitment = await hkdf(ikm, salt, KEY_COMMITMENT_DOMAIN, KEY_COMMITMENT_SIZE);
  const subkey = await crypto.subtle.importKey("raw", buffer(subkeyBytes), "AES-GCM", false, [
    "encrypt"
  ]);
  subkeyBytes.fill(0);
  return { subkey, keyCommitment, header: header(chunkSize, salt, noncePrefix, keyCommitment) };
}
async function hkdf(ikm, salt, info, length) {
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: buffer(salt), info: buffer(info) },
    ikm,
    length * 8
  );
  return new Uint8Array(bits);
}
function u32be(value) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, false);
  return out;
}
function header(chunkSize, salt, noncePrefix, keyCommitment) {
  return concat(CHUNK_DOMAIN, u32be(chunkSize), salt, noncePrefix, keyCommitment);
}
function chunkNonce(noncePrefix, index, last) {
  return concat(noncePrefix, u32be(index), Uint8Array.of(last ? 1 : 0));
}

// src/csvprep.ts
var SAMPLE_BYTES = 64 * 1024;
var CsvParser = class {
  constructor(delimiter) {
    this.delimiter = delimiter;
  }
  delimiter;
  field = "";
  record = [];
  quoted = false;
  afterQuote = false;
  pendingCr = false;
  /** An unfinished line kept by the fast path for the next push. */
  carry = "";
  /** Whether the last push was read by the fast path (its fields hold no quote, CR or LF). */
  lastWasFast = false;
  push(text) {
    text = this.carry + text;
    this.carry = "";
    this.lastWasFast = false;
    const clean = !this.quoted && !this.afterQuote && !this.pendingCr && this.field === "" && this.record.length === 0;
    if (clean && !text.includes('"') && !(text.includes("\r") && /\r(?!\n)/.test(text))) {
      const cut = text.lastIndexOf("\n");
      if (cut < 0) {
        this.carry = text;
        return [];
      }
      this.carry = text.slice(cut + 1);
      this.lastWasFast = true;
      return text.slice(0, cut).split("\n").map((line) => (line.endsWith("\r") ? line.slice(0, -1) : line).split(this.delimiter));
    }
    return this.parse(text);
  }
  parse(text) {
    const done = [];
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
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
  finish() {
    const done = this.carry ? this.parse(this.carry) : [];
    this.carry = "";
    if (this.field === "" && this.record.length === 0) return done;
    this.record.push(this.field);
    const last = this.record;
    this.record = [];
    this.field = "";
    return [...done, last];
  }
};
var CsvReshaper = class {
  constructor(plan) {
    this.plan = plan;
    this.parser = new CsvParser(plan.delimiter);
    this.skipHeader = plan.header !== null;
    this.width = plan.header?.length ?? plan.order.length;
  }
  plan;
  parser;
  width;
  skipHeader;
  first = true;
  records = 0;
  push(text) {
    if (this.first) {
      this.first = false;
      if (text.startsWith("\uFEFF")) text = text.slice(1);
    }
    const records = this.parser.push(text);
    return this.write(records, this.parser.lastWasFast);
  }
  finish() {
    return this.write(this.parser.finish(), false);
  }
  /** `plain`: the records came from the fast path, so no field holds a quote, CR or LF. */
  write(records, plain) {
    const verbatim = plain && this.plan.delimiter === ",";
    const parts = [];
    for (const record of records) {
      this.records += 1;
      if (this.skipHeader) {
        this.skipHeader = false;
        continue;
      }
      if (record.length === 1 && record[0] === "") continue;
      if (record.length !== this.width) {
        throw new Error(
          `record ${this.records} of the file has ${record.length} fields, not ${this.width}`
        );
      }
      parts.push(this.plan.order.map((index) => verbatim ? record[index] : quote(record[index])).join(","));
    }
    return parts.length ? parts.join("\n") + "\n" : "";
  }
};
function quote(field) {
  return /[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}

// src/worker.ts
var READ_PIECE = 4 * 1024 * 1024;
var PUT_ATTEMPTS = 3;
async function* plaintextPieces(file, reshape) {
  const reshaper = reshape ? new CsvReshaper(reshape) : null;
  const decoder2 = new TextDecoder("utf-8", { fatal: true });
  for (let offset = 0; offset < file.size; offset += READ_PIECE) {
    const end = Math.min(file.size, offset + READ_PIECE);
    const bytes = new Uint8Array(await file.slice(offset, end).arrayBuffer());
    if (bytes.length !== end - offset) throw new Error("the file changed while it was being read");
    const data = reshaper ? utf8(reshaper.push(decoder2.decode(bytes, { stream: true }))) : bytes;
    yield { data, fileOffset: end };
  }
  if (reshaper) yield { data: utf8(reshaper.push(decoder2.decode()) + reshaper.finish()), fileOffset: file.size };
}
var Uploader = class {
  constructor(baseUrl, headers) {
    this.baseUrl = baseUrl;
    this.headers = headers;
  }
  baseUrl;
  headers;
  async json(method, path, body) {
    const headers = { Accept: "application/json", ...this.headers };
    if (body !== void 0) headers["Content-Type"] = "application/json";
    const response = await fetch(this.baseUrl + path, {
      method,
      headers,
      credentials: "same-origin",
      ...body === void 0 ? {} : { body: JSON.stringify(body) }
    });
    if (!response.ok) throw await failure(response);
    return await response.json();
  }
  /** PUT one chunk; sent again on a network error, a 5xx or a corrupted arrival (idempotent). */
  async putChunk(uploadId, index, ciphertext, sha2562) {
    let last = null;
    for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
      let response;
      try {
        response = await fetch(`${this.baseUrl}/v1/uploads/${uploadId}/chunks/${index}`, {
          method: "PUT",
          headers: {
            ...this.headers,
            "Content-Type": "application/octet-stream",
            "X-Content-SHA256": sha2562
          },
          credentials: "same-origin",
          body: ciphertext.slice().buffer
        });
      } catch (error2) {
        last = error2;
        continue;
      }
      if (response.ok) return;
      const error = await failure(response);
      last = error;
      if (response.status < 500 && error.code !== "chunk_hash_mismatch") break;
    }
    throw last instanceof Error ? last : new Error(`chunk ${index} could not be uploaded`);
  }
};
var HttpError = class extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  status;
  code;
};
async function failure(response) {
  try {
    const body = await response.json();
    return new HttpError(response.status, body.code ?? "error", body.detail ?? response.statusText);
  } catch {
    return new HttpError(response.status, "error", `${response.status} ${response.statusText}`);
  }
}
async function encryptAndUploadInWorker(start, post) {
  const chunkSize = start.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const key = newDatasetKey();
  const encryptor = new ChunkEncryptor(key, chunkSize);
  const api = new Uploader(start.baseUrl ?? "", start.headers);
  const total = start.file.size;
  const { upload_id: uploadId } = await api.json("POST", "/v1/uploads");
  if (!/^[0-9a-f]{1,64}$/.test(uploadId)) throw new Error("the server answered a malformed upload id");
  let index = 0;
  let plaintextSize = 0;
  let inFlight = Promise.resolve();
  let pending = null;
  let filling = new Uint8Array(chunkSize);
  let filled = 0;
  const send = async (data, fileOffset, last) => {
    const chunk = await encryptor.encryptChunk(data, index, last);
    plaintextSize += data.length;
    index += 1;
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
  else await send(filling.subarray(0, filled), total, true);
  await inFlight;
  const manifest = await encryptor.manifest();
  const manifestText = fromUtf8(manifestBytes(manifest));
  const datasetId = await sha256Hex(manifestBytes(manifest));
  const dataset = await api.json("POST", `/v1/uploads/${uploadId}/complete`, {
    manifest: manifestText,
    name: start.name,
    description: start.description ?? ""
  });
  if (dataset.id !== datasetId) {
    throw new Error(
      `the server registered dataset ${dataset.id}, but its manifest hashes to ${datasetId}`
    );
  }
  post({ type: "done", datasetId, key, manifest: manifestText, size: plaintextSize });
}
if (typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) {
  let started = false;
  self.addEventListener("message", (event) => {
    if (started || event.data?.type !== "start") return;
    started = true;
    const post = (message) => self.postMessage(message);
    encryptAndUploadInWorker(event.data, post).catch((error) => {
      post({ type: "error", message: error instanceof Error ? error.message : String(error) });
    });
  });
}
export {
  encryptAndUploadInWorker
};
