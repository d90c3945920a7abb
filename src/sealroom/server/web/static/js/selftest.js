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
function fromHex(text) {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new Error("not a hex string");
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}
function toBase64(data) {
  let binary = "";
  for (let i = 0; i < data.length; i += 32768) {
    binary += String.fromCharCode(...data.subarray(i, i + 32768));
  }
  return btoa(binary);
}
function fromBase64(text) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new Error("not a base64 string");
  }
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
function toBase64Url(data) {
  return toBase64(data).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("not a base64url string");
  const padded = text.replace(/-/g, "+").replace(/_/g, "/");
  return fromBase64(padded + "=".repeat((4 - padded.length % 4) % 4));
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
function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
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

// src/actions.ts
var PURPOSE = utf8("sealroom/participant-action/v1");
function call(roomId, action, args = {}) {
  return { roomId, action, arguments: args };
}
function actionMessage(actionCall, publicKeyRaw, nonce, issuedAtMs) {
  return concat(
    PURPOSE,
    canonicalJson({
      room_id: actionCall.roomId,
      action: actionCall.action,
      arguments: { ...actionCall.arguments },
      nonce,
      issued_at_ms: issuedAtMs,
      public_key: toHex(publicKeyRaw)
    })
  );
}
async function signAction(key, publicKeyRaw, actionCall, nowMs, certificate) {
  const nonce = toHex(crypto.getRandomValues(new Uint8Array(16)));
  return signActionWithNonce(key, publicKeyRaw, actionCall, nowMs, nonce, certificate ?? null);
}
async function signActionWithNonce(key, publicKeyRaw, actionCall, nowMs, nonce, certificate) {
  if (publicKeyRaw.length !== 32) throw new Error("an Ed25519 public key is 32 bytes");
  if (!/^[0-9a-f]{32}$/.test(nonce)) throw new Error("a nonce is 32 lower-case hex digits");
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new Error("the time must be ms since 1970");
  const message = actionMessage(actionCall, publicKeyRaw, nonce, nowMs);
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "Ed25519" }, key, buffer(message))
  );
  return proofHeader(publicKeyRaw, certificate, nonce, nowMs, signature);
}
function proofHeader(publicKeyRaw, certificate, nonce, issuedAtMs, signature) {
  const body = {
    public_key: toHex(publicKeyRaw),
    certificate: certificate === null ? null : toBase64(certificate),
    nonce,
    issued_at_ms: issuedAtMs,
    signature: toHex(signature)
  };
  return toBase64Url(canonicalJson(body));
}
function publishRoom(roomId) {
  return call(roomId, "publish_room");
}
function stopRoom(roomId) {
  return call(roomId, "stop_room");
}
async function publishDataset(roomId, node, datasetId, sealedKey, replacePassing, replaces) {
  return call(roomId, "publish_dataset", {
    node,
    dataset_id: datasetId,
    sealed_key: await sha256Hex(sealedKey),
    replace_passing: replacePassing ? "true" : "false",
    ...replaces === void 0 ? {} : { replaces }
  });
}
function removeDataset(roomId, node) {
  return call(roomId, "remove_dataset", { node });
}
function retrieveValidationReport(roomId, node) {
  return call(roomId, "retrieve_validation_report", { node });
}
function runComputation(roomId, node, parameters, recipientKey) {
  return call(roomId, "run_computation", {
    node,
    parameters: encodeParameters(parameters),
    recipient_key: toHex(recipientKey)
  });
}
async function runDevelopment(roomId, node, parameters, recipientKey) {
  return call(roomId, "run_development", {
    node: await sha256Hex(canonicalJson(node)),
    parameters: encodeParameters(parameters),
    recipient_key: toHex(recipientKey)
  });
}
function previewRequest(roomId, requestId, parameters, recipientKey) {
  return call(roomId, "preview_request", {
    request_id: requestId,
    parameters: encodeParameters(parameters),
    recipient_key: toHex(recipientKey)
  });
}
function retrieveResult(roomId, jobId, recipientKey, resultFormat) {
  return call(roomId, "retrieve_result", {
    job_id: jobId,
    recipient_key: toHex(recipientKey),
    format: resultFormat ?? ""
  });
}
function retrieveDatasetStatistics(roomId, node, recipientKey) {
  return call(roomId, "retrieve_dataset_statistics", { node, recipient_key: toHex(recipientKey) });
}
function shareDatasetStatistics(roomId, node, datasetId, shared) {
  return call(roomId, "share_dataset_statistics", {
    node,
    dataset_id: datasetId,
    shared: shared ? "true" : "false"
  });
}
async function submitRequest(roomId, commit) {
  return call(roomId, "submit_request", { commit: await sha256Hex(canonicalJson(commit)) });
}
function approveRequest(roomId, requestId) {
  return call(roomId, "approve_request", { request_id: requestId });
}
function rejectRequest(roomId, requestId, reason) {
  return call(roomId, "reject_request", { request_id: requestId, reason });
}
function integrateRequest(roomId, requestId) {
  return call(roomId, "integrate_request", { request_id: requestId });
}
function encodeParameters(parameters) {
  const values = {};
  for (const [name, value] of Object.entries(parameters ?? {})) {
    if (typeof value !== "string") throw new Error(`parameter ${name} must be a string`);
    values[name] = value;
  }
  return fromUtf8(canonicalJson(values));
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
async function encryptBytes(key, data, chunkSize = DEFAULT_CHUNK_SIZE, encryptor = new ChunkEncryptor(key, chunkSize)) {
  const size = encryptor.chunkSize;
  const chunks = [];
  const count = Math.max(1, Math.ceil(data.length / size));
  for (let index = 0; index < count; index++) {
    const part = data.subarray(index * size, Math.min(data.length, (index + 1) * size));
    chunks.push(await encryptor.encryptChunk(part, index, index === count - 1));
  }
  return { manifest: await encryptor.manifest(), chunks };
}
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

// src/keys.ts
var DB_NAME = "sealroom-keys";
var DB_VERSION = 1;
var STORE = "signing-keys";
var RENEW_BEFORE_MS = 24 * 60 * 60 * 1e3;
var ED25519_PKCS8_PREFIX = Uint8Array.from([
  48,
  46,
  2,
  1,
  0,
  48,
  5,
  6,
  3,
  43,
  101,
  112,
  4,
  34,
  4,
  32
]);
var NoKeyError = class extends Error {
  constructor(email) {
    super(
      `this browser holds no signing key for ${email}: create one (and keep its backup) or import the SDK's (\`sealroom keys export\`)`
    );
    this.name = "NoKeyError";
  }
};
function normaliseEmail(email) {
  return email.trim().toLowerCase();
}
function fingerprint(publicKeyRaw) {
  return sha256Hex(publicKeyRaw);
}
function formatFingerprint(fingerprintHex) {
  return (fingerprintHex.match(/.{1,4}/g) ?? []).join(" ");
}
function pemFromPkcs8(der) {
  const lines = toBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----
${lines.join("\n")}
-----END PRIVATE KEY-----
`;
}
function pkcs8FromPem(pem) {
  const match = /^\s*-----BEGIN PRIVATE KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END PRIVATE KEY-----\s*$/.exec(
    pem
  );
  if (match === null) throw new Error("not an unencrypted PEM private key");
  const der = fromBase64(match[1].replace(/\s+/g, ""));
  const prefixOk = der.length === ED25519_PKCS8_PREFIX.length + 32 && ED25519_PKCS8_PREFIX.every((byte, i) => der[i] === byte);
  if (!prefixOk) throw new Error("not an Ed25519 private key");
  return der;
}
async function importPkcs8(der, extractable) {
  return crypto.subtle.importKey("pkcs8", buffer(der), { name: "Ed25519" }, extractable, ["sign"]);
}
async function publicKeyOf(privateKey) {
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  if (typeof jwk.x !== "string") throw new Error("not an Ed25519 key");
  return fromBase64Url(jwk.x);
}
function openDb() {
  return new Promise((resolve, reject) => {
    const request2 = indexedDB.open(DB_NAME, DB_VERSION);
    request2.onupgradeneeded = () => {
      request2.result.createObjectStore(STORE, { keyPath: "email" });
    };
    request2.onsuccess = () => resolve(request2.result);
    request2.onerror = () => reject(request2.error ?? new Error("IndexedDB is unavailable"));
  });
}
async function transact(mode, work) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request2 = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request2.result);
      tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
  } finally {
    db.close();
  }
}
async function loadKey(email) {
  const address = normaliseEmail(email);
  const found = await transact("readonly", (store) => store.get(address));
  return found ?? null;
}
async function storeKey(record) {
  await transact("readwrite", (store) => store.put(record));
}
async function keep(email, extractableKey, der, replace) {
  const address = normaliseEmail(email);
  if (!replace && await loadKey(address) !== null) {
    throw new Error(`this browser already holds a signing key for ${address}`);
  }
  const publicKeyRaw = await publicKeyOf(extractableKey);
  const privateKey = await importPkcs8(der, false);
  const record = {
    email: address,
    privateKey,
    publicKeyRaw,
    fingerprint: await fingerprint(publicKeyRaw),
    createdAtMs: Date.now(),
    certificates: {}
  };
  await storeKey(record);
  return record;
}
async function createKey(email, options = {}) {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify"
  ]);
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  try {
    const key = await keep(email, pair.privateKey, der, options.replace ?? false);
    return { key, backupPem: pemFromPkcs8(der) };
  } finally {
    der.fill(0);
  }
}
async function importPem(email, pem, options = {}) {
  const der = pkcs8FromPem(pem);
  try {
    const extractable = await importPkcs8(der, true);
    return await keep(email, extractable, der, options.replace ?? false);
  } finally {
    der.fill(0);
  }
}
async function rootFingerprint(pem) {
  const match = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  if (match === null) throw new Error("a trust root must be one PEM certificate");
  return sha256Hex(fromBase64(match[1].replace(/\s+/g, "")));
}
function keptCertificate(key, rootFingerprintHex, nowMs = Date.now()) {
  const kept = key.certificates[rootFingerprintHex];
  if (kept === void 0 || kept.notAfterMs - RENEW_BEFORE_MS < nowMs) return null;
  return kept.der;
}
async function api(path, context2, body) {
  const headers = { Accept: "application/json", ...context2.headers ?? {} };
  if (body !== void 0) headers["Content-Type"] = "application/json";
  const response = await fetch((context2.baseUrl ?? "") + path, {
    method: body === void 0 ? "GET" : "POST",
    headers,
    credentials: "same-origin",
    ...body === void 0 ? {} : { body: JSON.stringify(body) }
  });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch {
    }
    throw new Error(`${path}: ${detail}`);
  }
  return await response.json();
}
async function platformCertificate(key, rootFingerprintHex, context2 = {}) {
  const kept = keptCertificate(key, rootFingerprintHex);
  if (kept !== null) return kept;
  const root = await api("/v1/pki/root", context2);
  if (await rootFingerprint(root.certificate) !== rootFingerprintHex) return null;
  const issued = await api(
    "/v1/pki/certificates",
    context2,
    { public_key: toHex(key.publicKeyRaw) }
  );
  if (issued.fingerprint !== key.fingerprint) {
    throw new Error("the platform's CA answered with a certificate of another key than yours");
  }
  const der = fromBase64(issued.certificate);
  const current = await loadKey(key.email);
  if (current !== null && current.fingerprint === key.fingerprint) {
    current.certificates[rootFingerprintHex] = { der, notAfterMs: issued.not_after_ms };
    await storeKey(current);
  }
  key.certificates[rootFingerprintHex] = { der, notAfterMs: issued.not_after_ms };
  return der;
}
async function certificateFor(key, room, context2 = {}) {
  if (!room) return null;
  const identity = (room.identities ?? []).find(
    (item) => normaliseEmail(item.email) === key.email
  );
  if (identity === void 0 || !identity.root) return null;
  const root = (room.trust_roots ?? []).find((item) => item.name === identity.root);
  if (root === void 0) return null;
  const rootFp = await rootFingerprint(root.certificate);
  let certificate = keptCertificate(key, rootFp);
  if (certificate === null && root.operator) {
    certificate = await platformCertificate(key, rootFp, context2);
  }
  if (certificate === null) {
    throw new Error(
      `this room recognises you by certificates from its trust root '${root.name}' (fingerprint ${formatFingerprint(rootFp.slice(0, 16))} …), and this browser has none for your key: ask that CA for one`
    );
  }
  return certificate;
}
function pageHeaders() {
  if (typeof document === "undefined") return {};
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  return token ? { "X-CSRF-Token": token } : {};
}
async function participantSigner(email, context2 = {}) {
  const key = await loadKey(email);
  if (key === null) throw new NoKeyError(normaliseEmail(email));
  const requests = { ...context2, headers: context2.headers ?? pageHeaders() };
  return {
    email: key.email,
    fingerprint: key.fingerprint,
    publicKeyRaw: key.publicKeyRaw,
    async prove(call2, room) {
      const resolved = await call2;
      const certificate = await certificateFor(key, room, requests);
      return signAction(key.privateKey, key.publicKeyRaw, resolved, Date.now(), certificate);
    }
  };
}

// node_modules/@hpke/common/esm/src/errors.js
var HpkeError = class extends Error {
  constructor(e) {
    let message;
    if (e instanceof Error) {
      message = e.message;
    } else if (typeof e === "string") {
      message = e;
    } else {
      message = "";
    }
    super(message);
    this.name = this.constructor.name;
  }
};
var InvalidParamError = class extends HpkeError {
};
var SerializeError = class extends HpkeError {
};
var DeserializeError = class extends HpkeError {
};
var EncapError = class extends HpkeError {
};
var DecapError = class extends HpkeError {
};
var ExportError = class extends HpkeError {
};
var SealError = class extends HpkeError {
};
var OpenError = class extends HpkeError {
};
var MessageLimitReachedError = class extends HpkeError {
};
var DeriveKeyPairError = class extends HpkeError {
};
var NotSupportedError = class extends HpkeError {
};

// node_modules/@hpke/common/esm/_dnt.shims.js
var dntGlobals = {};
var dntGlobalThis = createMergeProxy(globalThis, dntGlobals);
function createMergeProxy(baseObj, extObj) {
  return new Proxy(baseObj, {
    get(_target, prop, _receiver) {
      if (prop in extObj) {
        return extObj[prop];
      } else {
        return baseObj[prop];
      }
    },
    set(_target, prop, value) {
      if (prop in extObj) {
        delete extObj[prop];
      }
      baseObj[prop] = value;
      return true;
    },
    deleteProperty(_target, prop) {
      let success = false;
      if (prop in extObj) {
        delete extObj[prop];
        success = true;
      }
      if (prop in baseObj) {
        delete baseObj[prop];
        success = true;
      }
      return success;
    },
    ownKeys(_target) {
      const baseKeys = Reflect.ownKeys(baseObj);
      const extKeys = Reflect.ownKeys(extObj);
      const extKeysSet = new Set(extKeys);
      return [...baseKeys.filter((k) => !extKeysSet.has(k)), ...extKeys];
    },
    defineProperty(_target, prop, desc) {
      if (prop in extObj) {
        delete extObj[prop];
      }
      Reflect.defineProperty(baseObj, prop, desc);
      return true;
    },
    getOwnPropertyDescriptor(_target, prop) {
      if (prop in extObj) {
        return Reflect.getOwnPropertyDescriptor(extObj, prop);
      } else {
        return Reflect.getOwnPropertyDescriptor(baseObj, prop);
      }
    },
    has(_target, prop) {
      return prop in extObj || prop in baseObj;
    }
  });
}

// node_modules/@hpke/common/esm/src/algorithm.js
async function loadSubtleCrypto() {
  if (dntGlobalThis !== void 0 && globalThis.crypto !== void 0) {
    return globalThis.crypto.subtle;
  }
  try {
    const { webcrypto } = await import("crypto");
    return webcrypto.subtle;
  } catch (e) {
    throw new NotSupportedError(e);
  }
}
var NativeAlgorithm = class {
  constructor() {
    Object.defineProperty(this, "_api", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
  }
  async _setup() {
    if (this._api !== void 0) {
      return;
    }
    this._api = await loadSubtleCrypto();
  }
};

// node_modules/@hpke/common/esm/src/identifiers.js
var Mode = {
  Base: 0,
  Psk: 1,
  Auth: 2,
  AuthPsk: 3
};
var KemId = {
  NotAssigned: 0,
  DhkemP256HkdfSha256: 16,
  DhkemP384HkdfSha384: 17,
  DhkemP521HkdfSha512: 18,
  DhkemSecp256k1HkdfSha256: 19,
  DhkemX25519HkdfSha256: 32,
  DhkemX448HkdfSha512: 33,
  HybridkemX25519Kyber768: 48,
  MlKem512: 64,
  MlKem768: 65,
  MlKem1024: 66,
  XWing: 25722
};
var KdfId = {
  HkdfSha256: 1,
  HkdfSha384: 2,
  HkdfSha512: 3,
  Sha3256: 4,
  Sha3384: 5,
  Sha3512: 6,
  Shake128: 16,
  Shake256: 17,
  TurboShake128: 18,
  TurboShake256: 19
};
var AeadId = {
  Aes128Gcm: 1,
  Aes256Gcm: 2,
  Chacha20Poly1305: 3,
  ExportOnly: 65535
};

// node_modules/@hpke/common/esm/src/consts.js
var INPUT_LENGTH_LIMIT = 8192;
var INFO_LENGTH_LIMIT = 268435456;
var MINIMUM_PSK_LENGTH = 32;
var EMPTY = /* @__PURE__ */ new Uint8Array(0);

// node_modules/@hpke/common/esm/src/interfaces/kemInterface.js
var SUITE_ID_HEADER_KEM = /* @__PURE__ */ new Uint8Array([
  75,
  69,
  77,
  0,
  0
]);

// node_modules/@hpke/common/esm/src/kdfs/hkdf.js
var HPKE_VERSION = /* @__PURE__ */ new Uint8Array([
  72,
  80,
  75,
  69,
  45,
  118,
  49
]);
function toUint8Array(input) {
  return new Uint8Array(toArrayBuffer(input));
}
function toArrayBuffer(input) {
  if (input instanceof ArrayBuffer) {
    return input;
  }
  if (ArrayBuffer.isView(input)) {
    return new Uint8Array(input.buffer, input.byteOffset, input.byteLength).slice().buffer;
  }
  return new Uint8Array(input).slice().buffer;
}
var HkdfNative = class extends NativeAlgorithm {
  constructor() {
    super();
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KdfId.HkdfSha256
    });
    Object.defineProperty(this, "hashSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_suiteId", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: EMPTY
    });
    Object.defineProperty(this, "algHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: {
        name: "HMAC",
        hash: "SHA-256",
        length: 256
      }
    });
  }
  init(suiteId) {
    this._suiteId = suiteId;
  }
  buildLabeledIkm(label, ikm) {
    this._checkInit();
    const ret = new Uint8Array(7 + this._suiteId.byteLength + label.byteLength + ikm.byteLength);
    ret.set(HPKE_VERSION, 0);
    ret.set(this._suiteId, 7);
    ret.set(label, 7 + this._suiteId.byteLength);
    ret.set(ikm, 7 + this._suiteId.byteLength + label.byteLength);
    return ret;
  }
  buildLabeledInfo(label, info, len) {
    this._checkInit();
    const ret = new Uint8Array(9 + this._suiteId.byteLength + label.byteLength + info.byteLength);
    ret.set(new Uint8Array([0, len]), 0);
    ret.set(HPKE_VERSION, 2);
    ret.set(this._suiteId, 9);
    ret.set(label, 9 + this._suiteId.byteLength);
    ret.set(info, 9 + this._suiteId.byteLength + label.byteLength);
    return ret;
  }
  async extract(salt, ikm) {
    await this._setup();
    const saltBuf = salt.byteLength === 0 ? new ArrayBuffer(this.hashSize) : toArrayBuffer(salt);
    if (saltBuf.byteLength !== this.hashSize) {
      throw new InvalidParamError("The salt length must be the same as the hashSize");
    }
    const ikmBuf = toArrayBuffer(ikm);
    const key = await this._api.importKey("raw", saltBuf, this.algHash, false, [
      "sign"
    ]);
    return await this._api.sign("HMAC", key, ikmBuf);
  }
  async expand(prk, info, len) {
    await this._setup();
    const prkBuf = toArrayBuffer(prk);
    const key = await this._api.importKey("raw", prkBuf, this.algHash, false, [
      "sign"
    ]);
    const okm = new ArrayBuffer(len);
    const okmBytes = new Uint8Array(okm);
    let prev = EMPTY;
    const mid = toUint8Array(info);
    const tail = new Uint8Array(1);
    if (len > 255 * this.hashSize) {
      throw new Error("Entropy limit reached");
    }
    const tmp = new Uint8Array(this.hashSize + mid.length + 1);
    for (let i = 1, cur = 0; cur < okmBytes.length; i++) {
      tail[0] = i;
      tmp.set(prev, 0);
      tmp.set(mid, prev.length);
      tmp.set(tail, prev.length + mid.length);
      prev = new Uint8Array(await this._api.sign("HMAC", key, tmp.slice(0, prev.length + mid.length + 1)));
      if (okmBytes.length - cur >= prev.length) {
        okmBytes.set(prev, cur);
        cur += prev.length;
      } else {
        okmBytes.set(prev.slice(0, okmBytes.length - cur), cur);
        cur += okmBytes.length - cur;
      }
    }
    return okm;
  }
  async extractAndExpand(salt, ikm, info, len) {
    await this._setup();
    const ikmBuf = toArrayBuffer(ikm);
    const baseKey = await this._api.importKey("raw", ikmBuf, "HKDF", false, ["deriveBits"]);
    return await this._api.deriveBits({
      name: "HKDF",
      hash: this.algHash.hash,
      salt: toArrayBuffer(salt),
      info: toArrayBuffer(info)
    }, baseKey, len * 8);
  }
  async labeledExtract(salt, label, ikm) {
    return await this.extract(salt, this.buildLabeledIkm(label, ikm));
  }
  async labeledExpand(prk, label, info, len) {
    return await this.expand(prk, this.buildLabeledInfo(label, info, len), len);
  }
  _checkInit() {
    if (this._suiteId === EMPTY) {
      throw new Error("Not initialized. Call init()");
    }
  }
};
var HkdfSha256Native = class extends HkdfNative {
  constructor() {
    super(...arguments);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KdfId.HkdfSha256
    });
    Object.defineProperty(this, "hashSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "algHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: {
        name: "HMAC",
        hash: "SHA-256",
        length: 256
      }
    });
  }
};

// node_modules/@hpke/common/esm/src/utils/misc.js
var isCryptoKeyPair = (x) => typeof x === "object" && x !== null && typeof x.privateKey === "object" && typeof x.publicKey === "object";
function i2Osp(n, w) {
  if (w <= 0) {
    throw new Error("i2Osp: too small size");
  }
  if (n >= 256 ** w) {
    throw new Error("i2Osp: too large integer");
  }
  const ret = new Uint8Array(w);
  for (let i = 0; i < w && n; i++) {
    ret[w - (i + 1)] = n % 256;
    n = Math.floor(n / 256);
  }
  return ret;
}
function concat2(a, b) {
  const ret = new Uint8Array(a.length + b.length);
  ret.set(a, 0);
  ret.set(b, a.length);
  return ret;
}
function base64UrlToBytes(v) {
  const base64 = v.replace(/-/g, "+").replace(/_/g, "/");
  const byteString = atob(base64);
  const ret = new Uint8Array(byteString.length);
  for (let i = 0; i < byteString.length; i++) {
    ret[i] = byteString.charCodeAt(i);
  }
  return ret;
}
function xor(a, b) {
  if (a.byteLength !== b.byteLength) {
    throw new Error("xor: different length inputs");
  }
  const buf = new Uint8Array(a.byteLength);
  for (let i = 0; i < a.byteLength; i++) {
    buf[i] = a[i] ^ b[i];
  }
  return buf;
}

// node_modules/@hpke/common/esm/src/kems/dhkem.js
var LABEL_EAE_PRK = /* @__PURE__ */ new Uint8Array([
  101,
  97,
  101,
  95,
  112,
  114,
  107
]);
var LABEL_SHARED_SECRET = /* @__PURE__ */ new Uint8Array([
  115,
  104,
  97,
  114,
  101,
  100,
  95,
  115,
  101,
  99,
  114,
  101,
  116
]);
function concat3(a, b, c) {
  const ret = new Uint8Array(a.length + b.length + c.length);
  ret.set(a, 0);
  ret.set(b, a.length);
  ret.set(c, a.length + b.length);
  return ret;
}
var Dhkem = class {
  constructor(id, prim, kdf) {
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "secretSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "encSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "publicKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "privateKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_prim", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_kdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this.id = id;
    this._prim = prim;
    this._kdf = kdf;
    const suiteId = new Uint8Array(SUITE_ID_HEADER_KEM);
    suiteId.set(i2Osp(this.id, 2), 3);
    this._kdf.init(suiteId);
  }
  async serializePublicKey(key) {
    return await this._prim.serializePublicKey(key);
  }
  async deserializePublicKey(key) {
    return await this._prim.deserializePublicKey(toArrayBuffer(key));
  }
  async serializePrivateKey(key) {
    return await this._prim.serializePrivateKey(key);
  }
  async deserializePrivateKey(key) {
    return await this._prim.deserializePrivateKey(toArrayBuffer(key));
  }
  async importKey(format, key, isPublic = true) {
    return await this._prim.importKey(format, key, isPublic);
  }
  async generateKeyPair() {
    return await this._prim.generateKeyPair();
  }
  async deriveKeyPair(ikm) {
    const rawIkm = toArrayBuffer(ikm);
    if (rawIkm.byteLength > INPUT_LENGTH_LIMIT) {
      throw new InvalidParamError("Too long ikm");
    }
    return await this._prim.deriveKeyPair(rawIkm);
  }
  async encap(params2) {
    let ke;
    if (params2.ekm === void 0) {
      ke = await this.generateKeyPair();
    } else if (isCryptoKeyPair(params2.ekm)) {
      ke = params2.ekm;
    } else {
      ke = await this.deriveKeyPair(params2.ekm);
    }
    const enc = await this._prim.serializePublicKey(ke.publicKey);
    const pkrm = await this._prim.serializePublicKey(params2.recipientPublicKey);
    try {
      let dh;
      if (params2.senderKey === void 0) {
        dh = new Uint8Array(await this._prim.dh(ke.privateKey, params2.recipientPublicKey));
      } else {
        const sks = isCryptoKeyPair(params2.senderKey) ? params2.senderKey.privateKey : params2.senderKey;
        const dh1 = new Uint8Array(await this._prim.dh(ke.privateKey, params2.recipientPublicKey));
        const dh2 = new Uint8Array(await this._prim.dh(sks, params2.recipientPublicKey));
        dh = concat2(dh1, dh2);
      }
      let kemContext;
      if (params2.senderKey === void 0) {
        kemContext = concat2(new Uint8Array(enc), new Uint8Array(pkrm));
      } else {
        const pks = isCryptoKeyPair(params2.senderKey) ? params2.senderKey.publicKey : await this._prim.derivePublicKey(params2.senderKey);
        const pksm = await this._prim.serializePublicKey(pks);
        kemContext = concat3(new Uint8Array(enc), new Uint8Array(pkrm), new Uint8Array(pksm));
      }
      const sharedSecret = await this._generateSharedSecret(dh, kemContext);
      return {
        enc,
        sharedSecret
      };
    } catch (e) {
      throw new EncapError(e);
    }
  }
  async decap(params2) {
    const enc = toArrayBuffer(params2.enc);
    const pke = await this._prim.deserializePublicKey(enc);
    const skr = isCryptoKeyPair(params2.recipientKey) ? params2.recipientKey.privateKey : params2.recipientKey;
    const pkr = isCryptoKeyPair(params2.recipientKey) ? params2.recipientKey.publicKey : await this._prim.derivePublicKey(params2.recipientKey);
    const pkrm = await this._prim.serializePublicKey(pkr);
    try {
      let dh;
      if (params2.senderPublicKey === void 0) {
        dh = new Uint8Array(await this._prim.dh(skr, pke));
      } else {
        const dh1 = new Uint8Array(await this._prim.dh(skr, pke));
        const dh2 = new Uint8Array(await this._prim.dh(skr, params2.senderPublicKey));
        dh = concat2(dh1, dh2);
      }
      let kemContext;
      if (params2.senderPublicKey === void 0) {
        kemContext = concat2(new Uint8Array(enc), new Uint8Array(pkrm));
      } else {
        const pksm = await this._prim.serializePublicKey(params2.senderPublicKey);
        kemContext = new Uint8Array(enc.byteLength + pkrm.byteLength + pksm.byteLength);
        kemContext.set(new Uint8Array(enc), 0);
        kemContext.set(new Uint8Array(pkrm), enc.byteLength);
        kemContext.set(new Uint8Array(pksm), enc.byteLength + pkrm.byteLength);
      }
      return await this._generateSharedSecret(dh, kemContext);
    } catch (e) {
      throw new DecapError(e);
    }
  }
  async _generateSharedSecret(dh, kemContext) {
    const labeledIkm = this._kdf.buildLabeledIkm(LABEL_EAE_PRK, dh);
    const labeledInfo = this._kdf.buildLabeledInfo(LABEL_SHARED_SECRET, kemContext, this.secretSize);
    return await this._kdf.extractAndExpand(EMPTY, labeledIkm, labeledInfo, this.secretSize);
  }
};

// node_modules/@hpke/common/esm/src/interfaces/dhkemPrimitives.js
var KEM_USAGES = ["deriveBits"];
var LABEL_DKP_PRK = /* @__PURE__ */ new Uint8Array([
  100,
  107,
  112,
  95,
  112,
  114,
  107
]);
var LABEL_SK = /* @__PURE__ */ new Uint8Array([115, 107]);

// node_modules/@hpke/common/esm/src/kems/dhkemPrimitives/ec.js
var EC_P_521_PARAMS = {
  p: (1n << 521n) - 1n,
  b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
  gx: 0x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66n,
  gy: 0x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650n,
  coordinateSize: 66
};

// node_modules/@hpke/common/esm/src/interfaces/aeadEncryptionContext.js
var AEAD_USAGES = ["encrypt", "decrypt"];

// node_modules/@hpke/common/esm/src/utils/noble.js
function isBytes(a) {
  return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array";
}
function anumber(n, title = "") {
  if (!Number.isSafeInteger(n) || n < 0) {
    const prefix = title && `"${title}" `;
    throw new Error(`${prefix}expected integer >0, got ${n}`);
  }
}
function abytes(value, length, title = "") {
  const bytes = isBytes(value);
  const len = value?.length;
  const needsLen = length !== void 0;
  if (!bytes || needsLen && len !== length) {
    const prefix = title && `"${title}" `;
    const ofLen = needsLen ? ` of length ${length}` : "";
    const got = bytes ? `length=${len}` : `type=${typeof value}`;
    throw new Error(prefix + "expected Uint8Array" + ofLen + ", got " + got);
  }
  return value;
}
function aexists(instance, checkFinished = true) {
  if (instance.destroyed)
    throw new Error("Hash instance has been destroyed");
  if (checkFinished && instance.finished) {
    throw new Error("Hash#digest() has already been called");
  }
}
function clean(...arrays) {
  for (let i = 0; i < arrays.length; i++) {
    arrays[i].fill(0);
  }
}
var _endianTestBuffer = /* @__PURE__ */ new Uint32Array([287454020]);
var _endianTestBytes = /* @__PURE__ */ new Uint8Array(_endianTestBuffer.buffer);
var isLE = _endianTestBytes[0] === 68;

// node_modules/@hpke/common/esm/src/hash/hash.js
function ahash(h2) {
  if (typeof h2 !== "function" || typeof h2.create !== "function") {
    throw new Error("Hash must wrapped by utils.createHasher");
  }
  anumber(h2.outputLen);
  anumber(h2.blockLen);
}

// node_modules/@hpke/common/esm/src/hash/hmac.js
var _HMAC = class {
  constructor(hash, key) {
    Object.defineProperty(this, "oHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "iHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "blockLen", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "outputLen", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "finished", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    Object.defineProperty(this, "destroyed", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    ahash(hash);
    abytes(key, void 0, "key");
    this.iHash = hash.create();
    if (typeof this.iHash.update !== "function") {
      throw new Error("Expected instance of class which extends utils.Hash");
    }
    this.blockLen = this.iHash.blockLen;
    this.outputLen = this.iHash.outputLen;
    const blockLen = this.blockLen;
    const pad = new Uint8Array(blockLen);
    pad.set(key.length > blockLen ? hash.create().update(key).digest() : key);
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54;
    this.iHash.update(pad);
    this.oHash = hash.create();
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54 ^ 92;
    this.oHash.update(pad);
    clean(pad);
  }
  update(buf) {
    aexists(this);
    this.iHash.update(buf);
    return this;
  }
  digestInto(out) {
    aexists(this);
    abytes(out, this.outputLen, "output");
    this.finished = true;
    this.iHash.digestInto(out);
    this.oHash.update(out);
    this.oHash.digestInto(out);
    this.destroy();
  }
  digest() {
    const out = new Uint8Array(this.oHash.outputLen);
    this.digestInto(out);
    return out;
  }
  _cloneInto(to) {
    to ||= Object.create(Object.getPrototypeOf(this), {});
    const { oHash, iHash, finished, destroyed, blockLen, outputLen } = this;
    to = to;
    to.finished = finished;
    to.destroyed = destroyed;
    to.blockLen = blockLen;
    to.outputLen = outputLen;
    to.oHash = oHash._cloneInto(to.oHash);
    to.iHash = iHash._cloneInto(to.iHash);
    return to;
  }
  clone() {
    return this._cloneInto();
  }
  destroy() {
    this.destroyed = true;
    this.oHash.destroy();
    this.iHash.destroy();
  }
};
var hmac = (hash, key, message) => new _HMAC(hash, key).update(message).digest();
hmac.create = (hash, key) => new _HMAC(hash, key);

// node_modules/@hpke/common/esm/src/hash/u64.js
var U32_MASK64 = 0xffffffffn;
var _32n = 32n;
function fromBig(n, le = false) {
  if (le) {
    return { h: Number(n & U32_MASK64), l: Number(n >> _32n & U32_MASK64) };
  }
  return {
    h: Number(n >> _32n & U32_MASK64) | 0,
    l: Number(n & U32_MASK64) | 0
  };
}
function split(lst, le = false) {
  const len = lst.length;
  const Ah = new Uint32Array(len);
  const Al = new Uint32Array(len);
  for (let i = 0; i < len; i++) {
    const { h: h2, l } = fromBig(lst[i], le);
    [Ah[i], Al[i]] = [h2, l];
  }
  return [Ah, Al];
}

// node_modules/@hpke/common/esm/src/hash/sha3.js
var _0n = 0n;
var _1n = 1n;
var _2n = 2n;
var _7n = 7n;
var _256n = 256n;
var _0x71n = 0x71n;
var SHA3_PI = [];
var SHA3_ROTL = [];
var _SHA3_IOTA = [];
for (let round = 0, R = _1n, x = 1, y = 0; round < 24; round++) {
  [x, y] = [y, (2 * x + 3 * y) % 5];
  SHA3_PI.push(2 * (5 * y + x));
  SHA3_ROTL.push((round + 1) * (round + 2) / 2 % 64);
  let t = _0n;
  for (let j = 0; j < 7; j++) {
    R = (R << _1n ^ (R >> _7n) * _0x71n) % _256n;
    if (R & _2n)
      t ^= _1n << (_1n << BigInt(j)) - _1n;
  }
  _SHA3_IOTA.push(t);
}
var IOTAS = split(_SHA3_IOTA, true);
var SHA3_IOTA_H = IOTAS[0];
var SHA3_IOTA_L = IOTAS[1];

// node_modules/@hpke/common/esm/src/curve/modular.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */

// node_modules/@hpke/common/esm/src/curve/montgomery.js
/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) */

// node_modules/@hpke/core/esm/src/aeads/aesGcm.js
var AesGcmContext = class extends NativeAlgorithm {
  constructor(key) {
    super();
    Object.defineProperty(this, "_rawKey", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_key", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._rawKey = toArrayBuffer(key);
  }
  async seal(iv, data, aad) {
    await this._setupKey();
    const alg = {
      name: "AES-GCM",
      iv: toArrayBuffer(iv),
      additionalData: toArrayBuffer(aad)
    };
    const ct = await this._api.encrypt(alg, this._key, toArrayBuffer(data));
    return ct;
  }
  async open(iv, data, aad) {
    await this._setupKey();
    const alg = {
      name: "AES-GCM",
      iv: toArrayBuffer(iv),
      additionalData: toArrayBuffer(aad)
    };
    const pt = await this._api.decrypt(alg, this._key, toArrayBuffer(data));
    return pt;
  }
  async _setupKey() {
    if (this._key !== void 0) {
      return;
    }
    await this._setup();
    const key = await this._importKey(this._rawKey);
    new Uint8Array(this._rawKey).fill(0);
    this._key = key;
    return;
  }
  async _importKey(key) {
    return await this._api.importKey("raw", key, { name: "AES-GCM" }, true, AEAD_USAGES);
  }
};
var Aes128Gcm = class {
  constructor() {
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: AeadId.Aes128Gcm
    });
    Object.defineProperty(this, "keySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 16
    });
    Object.defineProperty(this, "nonceSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 12
    });
    Object.defineProperty(this, "tagSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 16
    });
  }
  createEncryptionContext(key) {
    return new AesGcmContext(key);
  }
};
var Aes256Gcm = class extends Aes128Gcm {
  constructor() {
    super(...arguments);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: AeadId.Aes256Gcm
    });
    Object.defineProperty(this, "keySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "nonceSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 12
    });
    Object.defineProperty(this, "tagSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 16
    });
  }
};

// node_modules/@hpke/core/esm/src/utils/emitNotSupported.js
function emitNotSupported() {
  return new Promise((_resolve, reject) => {
    reject(new NotSupportedError("Not supported"));
  });
}

// node_modules/@hpke/core/esm/src/exporterContext.js
var LABEL_SEC = new Uint8Array([115, 101, 99]);
var ExporterContextImpl = class {
  constructor(api2, kdf, exporterSecret) {
    Object.defineProperty(this, "_api", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "exporterSecret", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_kdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._api = api2;
    this._kdf = kdf;
    this.exporterSecret = exporterSecret;
  }
  async seal(_data, _aad) {
    return await emitNotSupported();
  }
  async open(_data, _aad) {
    return await emitNotSupported();
  }
  async export(exporterContext, len) {
    const rawExporterContext = toArrayBuffer(exporterContext);
    if (rawExporterContext.byteLength > INPUT_LENGTH_LIMIT) {
      throw new InvalidParamError("Too long exporter context");
    }
    try {
      return await this._kdf.labeledExpand(this.exporterSecret, LABEL_SEC, new Uint8Array(rawExporterContext), len);
    } catch (e) {
      throw new ExportError(e);
    }
  }
};
var RecipientExporterContextImpl = class extends ExporterContextImpl {
};
var SenderExporterContextImpl = class extends ExporterContextImpl {
  constructor(api2, kdf, exporterSecret, enc) {
    super(api2, kdf, exporterSecret);
    Object.defineProperty(this, "enc", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this.enc = enc;
    return;
  }
};

// node_modules/@hpke/core/esm/src/encryptionContext.js
var EncryptionContextImpl = class extends ExporterContextImpl {
  constructor(api2, kdf, params2) {
    super(api2, kdf, params2.exporterSecret);
    Object.defineProperty(this, "_aead", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nK", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nN", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nT", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_ctx", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    if (params2.key === void 0 || params2.baseNonce === void 0 || params2.seq === void 0) {
      throw new Error("Required parameters are missing");
    }
    this._aead = params2.aead;
    this._nK = this._aead.keySize;
    this._nN = this._aead.nonceSize;
    this._nT = this._aead.tagSize;
    const key = this._aead.createEncryptionContext(params2.key);
    this._ctx = {
      key,
      baseNonce: params2.baseNonce,
      seq: params2.seq
    };
  }
  computeNonce(k) {
    const seqBytes = i2Osp(k.seq, k.baseNonce.byteLength);
    return xor(k.baseNonce, seqBytes).buffer;
  }
  incrementSeq(k) {
    if (k.seq > Number.MAX_SAFE_INTEGER) {
      throw new MessageLimitReachedError("Message limit reached");
    }
    k.seq += 1;
    return;
  }
};

// node_modules/@hpke/core/esm/src/mutex.js
var __classPrivateFieldGet = function(receiver, state, kind, f) {
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a getter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot read private member from an object whose class did not declare it");
  return kind === "m" ? f : kind === "a" ? f.call(receiver) : f ? f.value : state.get(receiver);
};
var __classPrivateFieldSet = function(receiver, state, value, kind, f) {
  if (kind === "m") throw new TypeError("Private method is not writable");
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a setter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot write private member to an object whose class did not declare it");
  return kind === "a" ? f.call(receiver, value) : f ? f.value = value : state.set(receiver, value), value;
};
var _Mutex_locked;
var Mutex = class {
  constructor() {
    _Mutex_locked.set(this, Promise.resolve());
  }
  async lock() {
    let releaseLock;
    const nextLock = new Promise((resolve) => {
      releaseLock = resolve;
    });
    const previousLock = __classPrivateFieldGet(this, _Mutex_locked, "f");
    __classPrivateFieldSet(this, _Mutex_locked, nextLock, "f");
    await previousLock;
    return releaseLock;
  }
};
_Mutex_locked = /* @__PURE__ */ new WeakMap();

// node_modules/@hpke/core/esm/src/recipientContext.js
var __classPrivateFieldGet2 = function(receiver, state, kind, f) {
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a getter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot read private member from an object whose class did not declare it");
  return kind === "m" ? f : kind === "a" ? f.call(receiver) : f ? f.value : state.get(receiver);
};
var __classPrivateFieldSet2 = function(receiver, state, value, kind, f) {
  if (kind === "m") throw new TypeError("Private method is not writable");
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a setter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot write private member to an object whose class did not declare it");
  return kind === "a" ? f.call(receiver, value) : f ? f.value = value : state.set(receiver, value), value;
};
var _RecipientContextImpl_mutex;
var RecipientContextImpl = class extends EncryptionContextImpl {
  constructor() {
    super(...arguments);
    _RecipientContextImpl_mutex.set(this, void 0);
  }
  async open(data, aad = EMPTY.buffer) {
    __classPrivateFieldSet2(this, _RecipientContextImpl_mutex, __classPrivateFieldGet2(this, _RecipientContextImpl_mutex, "f") ?? new Mutex(), "f");
    const release = await __classPrivateFieldGet2(this, _RecipientContextImpl_mutex, "f").lock();
    let pt;
    try {
      pt = await this._ctx.key.open(this.computeNonce(this._ctx), toArrayBuffer(data), toArrayBuffer(aad));
    } catch (e) {
      throw new OpenError(e);
    } finally {
      release();
    }
    this.incrementSeq(this._ctx);
    return pt;
  }
};
_RecipientContextImpl_mutex = /* @__PURE__ */ new WeakMap();

// node_modules/@hpke/core/esm/src/senderContext.js
var __classPrivateFieldGet3 = function(receiver, state, kind, f) {
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a getter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot read private member from an object whose class did not declare it");
  return kind === "m" ? f : kind === "a" ? f.call(receiver) : f ? f.value : state.get(receiver);
};
var __classPrivateFieldSet3 = function(receiver, state, value, kind, f) {
  if (kind === "m") throw new TypeError("Private method is not writable");
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a setter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot write private member to an object whose class did not declare it");
  return kind === "a" ? f.call(receiver, value) : f ? f.value = value : state.set(receiver, value), value;
};
var _SenderContextImpl_mutex;
var SenderContextImpl = class extends EncryptionContextImpl {
  constructor(api2, kdf, params2, enc) {
    super(api2, kdf, params2);
    Object.defineProperty(this, "enc", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    _SenderContextImpl_mutex.set(this, void 0);
    this.enc = enc;
  }
  async seal(data, aad = EMPTY.buffer) {
    __classPrivateFieldSet3(this, _SenderContextImpl_mutex, __classPrivateFieldGet3(this, _SenderContextImpl_mutex, "f") ?? new Mutex(), "f");
    const release = await __classPrivateFieldGet3(this, _SenderContextImpl_mutex, "f").lock();
    let ct;
    try {
      ct = await this._ctx.key.seal(this.computeNonce(this._ctx), toArrayBuffer(data), toArrayBuffer(aad));
    } catch (e) {
      throw new SealError(e);
    } finally {
      release();
    }
    this.incrementSeq(this._ctx);
    return ct;
  }
};
_SenderContextImpl_mutex = /* @__PURE__ */ new WeakMap();

// node_modules/@hpke/core/esm/src/cipherSuiteNative.js
var LABEL_BASE_NONCE = new Uint8Array([
  98,
  97,
  115,
  101,
  95,
  110,
  111,
  110,
  99,
  101
]);
var LABEL_EXP = new Uint8Array([101, 120, 112]);
var LABEL_INFO_HASH = new Uint8Array([
  105,
  110,
  102,
  111,
  95,
  104,
  97,
  115,
  104
]);
var LABEL_KEY = new Uint8Array([107, 101, 121]);
var LABEL_PSK_ID_HASH = new Uint8Array([
  112,
  115,
  107,
  95,
  105,
  100,
  95,
  104,
  97,
  115,
  104
]);
var LABEL_SECRET = new Uint8Array([115, 101, 99, 114, 101, 116]);
var SUITE_ID_HEADER_HPKE = new Uint8Array([
  72,
  80,
  75,
  69,
  0,
  0,
  0,
  0,
  0,
  0
]);
var CipherSuiteNative = class extends NativeAlgorithm {
  /**
   * @param params A set of parameters for building a cipher suite.
   *
   * If the error occurred, throws {@link InvalidParamError}.
   *
   * @throws {@link InvalidParamError}
   */
  constructor(params2) {
    super();
    Object.defineProperty(this, "_kem", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_kdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_aead", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_suiteId", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    if (typeof params2.kem === "number") {
      throw new InvalidParamError("KemId cannot be used");
    }
    this._kem = params2.kem;
    if (typeof params2.kdf === "number") {
      throw new InvalidParamError("KdfId cannot be used");
    }
    this._kdf = params2.kdf;
    if (typeof params2.aead === "number") {
      throw new InvalidParamError("AeadId cannot be used");
    }
    this._aead = params2.aead;
    this._suiteId = new Uint8Array(SUITE_ID_HEADER_HPKE);
    this._suiteId.set(i2Osp(this._kem.id, 2), 4);
    this._suiteId.set(i2Osp(this._kdf.id, 2), 6);
    this._suiteId.set(i2Osp(this._aead.id, 2), 8);
    this._kdf.init(this._suiteId);
  }
  /**
   * Gets the KEM context of the ciphersuite.
   */
  get kem() {
    return this._kem;
  }
  /**
   * Gets the KDF context of the ciphersuite.
   */
  get kdf() {
    return this._kdf;
  }
  /**
   * Gets the AEAD context of the ciphersuite.
   */
  get aead() {
    return this._aead;
  }
  /**
   * Creates an encryption context for a sender.
   *
   * If the error occurred, throws {@link DecapError} | {@link ValidationError}.
   *
   * @param params A set of parameters for the sender encryption context.
   * @returns A sender encryption context.
   * @throws {@link EncapError}, {@link ValidationError}
   */
  async createSenderContext(params2) {
    this._validateInputLength(params2);
    await this._setup();
    const dh = await this._kem.encap(params2);
    let mode;
    if (params2.psk !== void 0) {
      mode = params2.senderKey !== void 0 ? Mode.AuthPsk : Mode.Psk;
    } else {
      mode = params2.senderKey !== void 0 ? Mode.Auth : Mode.Base;
    }
    return await this._keyScheduleS(mode, dh.sharedSecret, dh.enc, params2);
  }
  /**
   * Creates an encryption context for a recipient.
   *
   * If the error occurred, throws {@link DecapError}
   * | {@link DeserializeError} | {@link ValidationError}.
   *
   * @param params A set of parameters for the recipient encryption context.
   * @returns A recipient encryption context.
   * @throws {@link DecapError}, {@link DeserializeError}, {@link ValidationError}
   */
  async createRecipientContext(params2) {
    this._validateInputLength(params2);
    await this._setup();
    const sharedSecret = await this._kem.decap(params2);
    let mode;
    if (params2.psk !== void 0) {
      mode = params2.senderPublicKey !== void 0 ? Mode.AuthPsk : Mode.Psk;
    } else {
      mode = params2.senderPublicKey !== void 0 ? Mode.Auth : Mode.Base;
    }
    return await this._keyScheduleR(mode, sharedSecret, params2);
  }
  /**
   * Encrypts a message to a recipient.
   *
   * If the error occurred, throws `EncapError` | `MessageLimitReachedError` | `SealError` | `ValidationError`.
   *
   * @param params A set of parameters for building a sender encryption context.
   * @param pt A plain text as bytes to be encrypted.
   * @param aad Additional authenticated data as bytes fed by an application.
   * @returns A cipher text and an encapsulated key as bytes.
   * @throws {@link EncapError}, {@link MessageLimitReachedError}, {@link SealError}, {@link ValidationError}
   */
  async seal(params2, pt, aad = EMPTY.buffer) {
    const ctx = await this.createSenderContext(params2);
    return {
      ct: await ctx.seal(pt, aad),
      enc: ctx.enc
    };
  }
  /**
   * Decrypts a message from a sender.
   *
   * If the error occurred, throws `DecapError` | `DeserializeError` | `OpenError` | `ValidationError`.
   *
   * @param params A set of parameters for building a recipient encryption context.
   * @param ct An encrypted text as bytes to be decrypted.
   * @param aad Additional authenticated data as bytes fed by an application.
   * @returns A decrypted plain text as bytes.
   * @throws {@link DecapError}, {@link DeserializeError}, {@link OpenError}, {@link ValidationError}
   */
  async open(params2, ct, aad = EMPTY.buffer) {
    const ctx = await this.createRecipientContext(params2);
    return await ctx.open(ct, aad);
  }
  // private verifyPskInputs(mode: Mode, params: KeyScheduleParams) {
  //   const gotPsk = (params.psk !== undefined);
  //   const gotPskId = (params.psk !== undefined && params.psk.id.byteLength > 0);
  //   if (gotPsk !== gotPskId) {
  //     throw new Error('Inconsistent PSK inputs');
  //   }
  //   if (gotPsk && (mode === Mode.Base || mode === Mode.Auth)) {
  //     throw new Error('PSK input provided when not needed');
  //   }
  //   if (!gotPsk && (mode === Mode.Psk || mode === Mode.AuthPsk)) {
  //     throw new Error('Missing required PSK input');
  //   }
  //   return;
  // }
  async _keySchedule(mode, sharedSecret, params2) {
    const pskId = params2.psk === void 0 ? EMPTY : toUint8Array(params2.psk.id);
    const pskIdHash = await this._kdf.labeledExtract(EMPTY, LABEL_PSK_ID_HASH, pskId);
    const info = params2.info === void 0 ? EMPTY : toUint8Array(params2.info);
    const infoHash = await this._kdf.labeledExtract(EMPTY, LABEL_INFO_HASH, info);
    const keyScheduleContext = new Uint8Array(1 + pskIdHash.byteLength + infoHash.byteLength);
    keyScheduleContext.set(new Uint8Array([mode]), 0);
    keyScheduleContext.set(new Uint8Array(pskIdHash), 1);
    keyScheduleContext.set(new Uint8Array(infoHash), 1 + pskIdHash.byteLength);
    const psk = params2.psk === void 0 ? EMPTY : toUint8Array(params2.psk.key);
    const ikm = this._kdf.buildLabeledIkm(LABEL_SECRET, psk);
    const exporterSecretInfo = this._kdf.buildLabeledInfo(LABEL_EXP, keyScheduleContext, this._kdf.hashSize);
    const exporterSecret = await this._kdf.extractAndExpand(sharedSecret, ikm, exporterSecretInfo, this._kdf.hashSize);
    if (this._aead.id === AeadId.ExportOnly) {
      return { aead: this._aead, exporterSecret };
    }
    const keyInfo = this._kdf.buildLabeledInfo(LABEL_KEY, keyScheduleContext, this._aead.keySize);
    const key = await this._kdf.extractAndExpand(sharedSecret, ikm, keyInfo, this._aead.keySize);
    const baseNonceInfo = this._kdf.buildLabeledInfo(LABEL_BASE_NONCE, keyScheduleContext, this._aead.nonceSize);
    const baseNonce = await this._kdf.extractAndExpand(sharedSecret, ikm, baseNonceInfo, this._aead.nonceSize);
    return {
      aead: this._aead,
      exporterSecret,
      key,
      baseNonce: new Uint8Array(baseNonce),
      seq: 0
    };
  }
  async _keyScheduleS(mode, sharedSecret, enc, params2) {
    const res = await this._keySchedule(mode, sharedSecret, params2);
    if (res.key === void 0) {
      return new SenderExporterContextImpl(this._api, this._kdf, res.exporterSecret, enc);
    }
    return new SenderContextImpl(this._api, this._kdf, res, enc);
  }
  async _keyScheduleR(mode, sharedSecret, params2) {
    const res = await this._keySchedule(mode, sharedSecret, params2);
    if (res.key === void 0) {
      return new RecipientExporterContextImpl(this._api, this._kdf, res.exporterSecret);
    }
    return new RecipientContextImpl(this._api, this._kdf, res);
  }
  _validateInputLength(params2) {
    if (params2.info !== void 0 && params2.info.byteLength > INFO_LENGTH_LIMIT) {
      throw new InvalidParamError("Too long info");
    }
    if (params2.psk !== void 0) {
      if (params2.psk.key.byteLength < MINIMUM_PSK_LENGTH) {
        throw new InvalidParamError(`PSK must have at least ${MINIMUM_PSK_LENGTH} bytes`);
      }
      if (params2.psk.key.byteLength > INPUT_LENGTH_LIMIT) {
        throw new InvalidParamError("Too long psk.key");
      }
      if (params2.psk.id.byteLength > INPUT_LENGTH_LIMIT) {
        throw new InvalidParamError("Too long psk.id");
      }
    }
    return;
  }
};

// node_modules/@hpke/core/esm/src/native.js
var CipherSuite = class extends CipherSuiteNative {
};
var HkdfSha256 = class extends HkdfSha256Native {
};

// node_modules/@hpke/core/esm/src/kems/dhkemPrimitives/x25519.js
var ALG_NAME = "X25519";
var PKCS8_ALG_ID_X25519 = new Uint8Array([
  48,
  46,
  2,
  1,
  0,
  48,
  5,
  6,
  3,
  43,
  101,
  110,
  4,
  34,
  4,
  32
]);
var BASE_POINT_X25519 = /* @__PURE__ */ (() => {
  const p = new Uint8Array(32);
  p[0] = 9;
  return p;
})();
var X25519 = class extends NativeAlgorithm {
  constructor(hkdf2) {
    super();
    Object.defineProperty(this, "_hkdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_alg", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nPk", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nSk", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nDh", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_pkcs8AlgId", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._alg = { name: ALG_NAME };
    this._hkdf = hkdf2;
    this._nPk = 32;
    this._nSk = 32;
    this._nDh = 32;
    this._pkcs8AlgId = PKCS8_ALG_ID_X25519;
  }
  async serializePublicKey(key) {
    await this._setup();
    try {
      return await this._api.exportKey("raw", key);
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async deserializePublicKey(key) {
    await this._setup();
    try {
      return await this._importRawKey(toArrayBuffer(key), true);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async serializePrivateKey(key) {
    await this._setup();
    try {
      const jwk = await this._api.exportKey("jwk", key);
      if (!("d" in jwk)) {
        throw new Error("Not private key");
      }
      return base64UrlToBytes(jwk["d"]).buffer;
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async deserializePrivateKey(key) {
    await this._setup();
    try {
      return await this._importRawKey(toArrayBuffer(key), false);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async importKey(format, key, isPublic) {
    await this._setup();
    try {
      if (format === "raw") {
        return await this._importRawKey(key, isPublic);
      }
      if (key instanceof ArrayBuffer) {
        throw new Error("Invalid jwk key format");
      }
      return await this._importJWK(key, isPublic);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async generateKeyPair() {
    await this._setup();
    try {
      return await this._api.generateKey(ALG_NAME, true, KEM_USAGES);
    } catch (e) {
      throw new NotSupportedError(e);
    }
  }
  async deriveKeyPair(ikm) {
    await this._setup();
    try {
      const rawIkm = toArrayBuffer(ikm);
      const dkpPrk = await this._hkdf.labeledExtract(EMPTY, LABEL_DKP_PRK, new Uint8Array(rawIkm));
      const rawSk = await this._hkdf.labeledExpand(dkpPrk, LABEL_SK, EMPTY, this._nSk);
      const rawSkBytes = new Uint8Array(rawSk);
      const sk = await this._deserializePkcs8Key(rawSkBytes);
      rawSkBytes.fill(0);
      return {
        privateKey: sk,
        publicKey: await this.derivePublicKey(sk)
      };
    } catch (e) {
      throw new DeriveKeyPairError(e);
    }
  }
  async derivePublicKey(key) {
    await this._setup();
    try {
      const jwk = await this._api.exportKey("jwk", key);
      delete jwk["d"];
      delete jwk["key_ops"];
      return await this._api.importKey("jwk", jwk, this._alg, true, []);
    } catch {
      try {
        const bp = await this._api.importKey("raw", BASE_POINT_X25519.buffer, this._alg, true, []);
        const bits = await this._api.deriveBits({
          name: ALG_NAME,
          public: bp
        }, key, this._nPk * 8);
        return await this._api.importKey("raw", bits, this._alg, true, []);
      } catch (e) {
        throw new DeserializeError(e);
      }
    }
  }
  async dh(sk, pk) {
    await this._setup();
    try {
      const bits = await this._api.deriveBits({
        name: ALG_NAME,
        public: pk
      }, sk, this._nDh * 8);
      return bits;
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async _importRawKey(key, isPublic) {
    if (isPublic && key.byteLength !== this._nPk) {
      throw new Error("Invalid public key for the ciphersuite");
    }
    if (!isPublic && key.byteLength !== this._nSk) {
      throw new Error("Invalid private key for the ciphersuite");
    }
    if (isPublic) {
      return await this._api.importKey("raw", key, this._alg, true, []);
    }
    return await this._deserializePkcs8Key(new Uint8Array(key));
  }
  async _importJWK(key, isPublic) {
    if (typeof key.kty === "undefined" || key.kty !== "OKP") {
      throw new Error(`Invalid kty: ${key.crv}`);
    }
    if (typeof key.crv === "undefined" || key.crv !== ALG_NAME) {
      throw new Error(`Invalid crv: ${key.crv}`);
    }
    if (isPublic) {
      if (typeof key.d !== "undefined") {
        throw new Error("Invalid key: `d` should not be set");
      }
      return await this._api.importKey("jwk", key, this._alg, true, []);
    }
    if (typeof key.d === "undefined") {
      throw new Error("Invalid key: `d` not found");
    }
    return await this._api.importKey("jwk", key, this._alg, true, KEM_USAGES);
  }
  async _deserializePkcs8Key(k) {
    const pkcs8Key = new Uint8Array(this._pkcs8AlgId.length + k.length);
    pkcs8Key.set(this._pkcs8AlgId, 0);
    pkcs8Key.set(k, this._pkcs8AlgId.length);
    return await this._api.importKey("pkcs8", pkcs8Key, this._alg, true, KEM_USAGES);
  }
};

// node_modules/@hpke/core/esm/src/kems/dhkemX25519.js
var DhkemX25519HkdfSha256 = class extends Dhkem {
  constructor() {
    const kdf = new HkdfSha256Native();
    super(KemId.DhkemX25519HkdfSha256, new X25519(kdf), kdf);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KemId.DhkemX25519HkdfSha256
    });
    Object.defineProperty(this, "secretSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "encSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "publicKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "privateKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
  }
};

// node_modules/@hpke/core/esm/src/kems/dhkemPrimitives/x448.js
var PKCS8_ALG_ID_X448 = new Uint8Array([
  48,
  70,
  2,
  1,
  0,
  48,
  5,
  6,
  3,
  43,
  101,
  111,
  4,
  58,
  4,
  56
]);

// src/sealing.ts
var KEM_KEY_SIZE = 32;
var VERSION_X25519_SHA256_AES256GCM = 1;
var ENC_SIZE = 32;
var TAG_SIZE2 = 16;
var SEALED_OVERHEAD = 1 + ENC_SIZE + TAG_SIZE2;
var suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm()
});
async function generateRecipient() {
  const pair = await crypto.subtle.generateKey({ name: "X25519" }, false, [
    "deriveBits"
  ]);
  const publicKeyRaw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: pair.publicKey, publicKeyRaw };
}
async function recipientFromPrivateBytes(raw, extractable = false) {
  if (raw.length !== KEM_KEY_SIZE) throw new Error(`an X25519 private key is ${KEM_KEY_SIZE} bytes`);
  const prefix = Uint8Array.from([
    48,
    46,
    2,
    1,
    0,
    48,
    5,
    6,
    3,
    43,
    101,
    110,
    4,
    34,
    4,
    32
  ]);
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    buffer(concat(prefix, raw)),
    { name: "X25519" },
    extractable,
    ["deriveBits"]
  );
  const publicKey = await derivePublicKey(privateKey);
  const publicKeyRaw = new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
  return { privateKey, publicKey, publicKeyRaw };
}
async function seal(publicKeyRaw, plaintext, context2) {
  if (publicKeyRaw.length !== KEM_KEY_SIZE) {
    throw new Error(`an X25519 public key is ${KEM_KEY_SIZE} bytes`);
  }
  let recipientPublicKey;
  try {
    recipientPublicKey = await crypto.subtle.importKey(
      "raw",
      buffer(publicKeyRaw),
      { name: "X25519" },
      true,
      []
    );
  } catch {
    throw new Error("not an X25519 public key");
  }
  let sealed;
  try {
    sealed = await suite.seal({ recipientPublicKey, info: buffer(context2) }, buffer(plaintext));
  } catch {
    throw new Error("cannot seal to this X25519 public key (a low-order point?)");
  }
  return concat(
    Uint8Array.of(VERSION_X25519_SHA256_AES256GCM),
    new Uint8Array(sealed.enc),
    new Uint8Array(sealed.ct)
  );
}
async function openSealed(recipient, sealed, context2) {
  const failure = new Error("sealed message could not be opened (wrong key, context or tampered)");
  if (sealed.length < SEALED_OVERHEAD || sealed[0] !== VERSION_X25519_SHA256_AES256GCM) {
    throw failure;
  }
  try {
    const recipientKey = recipient instanceof CryptoKey ? { privateKey: recipient, publicKey: await derivePublicKey(recipient) } : { privateKey: recipient.privateKey, publicKey: recipient.publicKey };
    const plaintext = await suite.open(
      { recipientKey, enc: buffer(sealed.subarray(1, 1 + ENC_SIZE)), info: buffer(context2) },
      buffer(sealed.subarray(1 + ENC_SIZE))
    );
    return new Uint8Array(plaintext);
  } catch {
    throw failure;
  }
}
async function derivePublicKey(privateKey) {
  const basePoint = new Uint8Array(KEM_KEY_SIZE);
  basePoint[0] = 9;
  const base = await crypto.subtle.importKey("raw", buffer(basePoint), { name: "X25519" }, true, []);
  const raw = await crypto.subtle.deriveBits(
    { name: "X25519", public: base },
    privateKey,
    KEM_KEY_SIZE * 8
  );
  return crypto.subtle.importKey("raw", raw, { name: "X25519" }, true, []);
}
function datasetKeyContext(roomId, nodeId, datasetId) {
  return context("sealroom/dataset-key/v1", {
    room_id: roomId,
    node_id: nodeId,
    dataset_id: datasetId
  });
}
function datasetTestKeyContext(draftId, nodeId, datasetId, testRun) {
  return context("sealroom/test-dataset-key/v1", {
    draft_id: draftId,
    node_id: nodeId,
    dataset_id: datasetId,
    test_run: testRun
  });
}
function resultContext(roomId, jobId, resultFormat) {
  return context("sealroom/job-result/v2", {
    room_id: roomId,
    job_id: jobId,
    result_format: resultFormat
  });
}
function statisticsContext(roomId, nodeId, datasetId) {
  return context("sealroom/dataset-statistics/v1", {
    room_id: roomId,
    node_id: nodeId,
    dataset_id: datasetId
  });
}
function context(purpose, fields) {
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value !== "string" || value === "") {
      throw new Error(`sealing context field '${name}' must be a non-empty string`);
    }
  }
  return canonicalJson({ purpose, ...fields });
}

// src/upload.ts
function encryptAndUpload(file, options) {
  const worker = new Worker(options.workerUrl ?? "/static/js/worker.js", { type: "module" });
  return new Promise((resolve, reject) => {
    worker.onmessage = (event) => {
      const message = event.data;
      if (message.type === "progress") {
        options.onProgress?.(message.done, message.total);
      } else if (message.type === "done") {
        worker.terminate();
        resolve({
          datasetId: message.datasetId,
          key: message.key,
          manifest: message.manifest,
          size: message.size
        });
      } else {
        worker.terminate();
        reject(new Error(message.message));
      }
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(event.message || "the encryption worker failed to start"));
    };
    const start = {
      type: "start",
      file,
      headers: options.headers,
      name: options.name ?? (file instanceof File && file.name ? file.name : "dataset"),
      ...options.chunkSize === void 0 ? {} : { chunkSize: options.chunkSize },
      ...options.description === void 0 ? {} : { description: options.description },
      ...options.reshape === void 0 ? {} : { reshape: options.reshape }
    };
    worker.postMessage(start);
  });
}

// src/selftest/crypto.ts
function str(value) {
  if (typeof value !== "string") throw new Error("expected a string argument");
  return value;
}
function params(value) {
  if (value === null || value === void 0) return null;
  return value;
}
async function buildCall(builder, a) {
  const room = str(a["room_id"]);
  switch (builder) {
    case "publish_room":
      return publishRoom(room);
    case "stop_room":
      return stopRoom(room);
    case "publish_dataset":
      return publishDataset(
        room,
        str(a["node"]),
        str(a["dataset_id"]),
        fromHex(str(a["sealed_key"])),
        a["replace_passing"] === true,
        a["replaces"] === void 0 ? void 0 : str(a["replaces"])
      );
    case "remove_dataset":
      return removeDataset(room, str(a["node"]));
    case "retrieve_validation_report":
      return retrieveValidationReport(room, str(a["node"]));
    case "run_computation":
      return runComputation(
        room,
        str(a["node"]),
        params(a["parameters"]),
        fromHex(str(a["recipient_key"]))
      );
    case "run_development":
      return runDevelopment(
        room,
        a["node"],
        params(a["parameters"]),
        fromHex(str(a["recipient_key"]))
      );
    case "preview_request":
      return previewRequest(
        room,
        str(a["request_id"]),
        params(a["parameters"]),
        fromHex(str(a["recipient_key"]))
      );
    case "retrieve_result":
      return retrieveResult(
        room,
        str(a["job_id"]),
        fromHex(str(a["recipient_key"])),
        a["result_format"] === null ? null : str(a["result_format"])
      );
    case "retrieve_dataset_statistics":
      return retrieveDatasetStatistics(room, str(a["node"]), fromHex(str(a["recipient_key"])));
    case "share_dataset_statistics":
      return shareDatasetStatistics(
        room,
        str(a["node"]),
        str(a["dataset_id"]),
        a["shared"] === true
      );
    case "submit_request":
      return submitRequest(room, a["commit"]);
    case "approve_request":
      return approveRequest(room, str(a["request_id"]));
    case "reject_request":
      return rejectRequest(room, str(a["request_id"]), str(a["reason"]));
    case "integrate_request":
      return integrateRequest(room, str(a["request_id"]));
    default:
      throw new Error(`no builder ${builder}`);
  }
}
var ED25519_PKCS8_PREFIX2 = "302e020100300506032b657004220420";
async function signingKeyFromSeed(seedHex, extractable = false) {
  return crypto.subtle.importKey(
    "pkcs8",
    fromHex(ED25519_PKCS8_PREFIX2 + seedHex).buffer,
    { name: "Ed25519" },
    extractable,
    ["sign"]
  );
}
function contextOf(kind, args) {
  const [a = "", b = "", c = "", d = ""] = args;
  switch (kind) {
    case "dataset_key":
      return datasetKeyContext(a, b, c);
    case "dataset_test_key":
      return datasetTestKeyContext(a, b, c, d);
    case "result":
      return resultContext(a, b, c);
    case "statistics":
      return statisticsContext(a, b, c);
    default:
      throw new Error(`no context ${kind}`);
  }
}
async function cryptoKnownAnswers(vectors) {
  const bad = [];
  const check = (what, got, want) => {
    if (got !== want) bad.push(`${what}: got ${got.slice(0, 200)}, want ${want.slice(0, 200)}`);
  };
  const attempt = async (what, work) => {
    try {
      await work();
    } catch (error) {
      bad.push(`${what}: threw ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  for (const v of vectors.chunks) {
    await attempt(`chunks[${v.name}]`, async () => {
      const encryptor = ChunkEncryptor.withFixedRandomness(
        fromHex(v.key),
        v.chunk_size,
        fromHex(v.salt),
        fromHex(v.nonce_prefix)
      );
      const { manifest, chunks } = await encryptBytes(
        fromHex(v.key),
        fromHex(v.plaintext),
        v.chunk_size,
        encryptor
      );
      check(`chunks[${v.name}] count`, String(chunks.length), String(v.chunks.length));
      chunks.forEach((chunk, i) => {
        check(`chunks[${v.name}][${i}] ciphertext`, toHex(chunk.ciphertext), v.chunks[i]?.ciphertext ?? "");
        check(`chunks[${v.name}][${i}] sha256`, chunk.sha256, v.chunks[i]?.sha256 ?? "");
      });
      check(`chunks[${v.name}] manifest`, fromUtf8(manifestBytes(manifest)), v.manifest);
      check(`chunks[${v.name}] dataset id`, await datasetIdOf(manifest), v.dataset_id);
      check(`chunks[${v.name}] encryptor id`, await encryptor.datasetId(), v.dataset_id);
    });
  }
  for (const [i, v] of vectors.contexts.entries()) {
    await attempt(`contexts[${i}]`, async () => {
      check(`contexts[${i}] ${v.kind}`, fromUtf8(contextOf(v.kind, v.args)), v.context);
    });
  }
  const recipient = await recipientFromPrivateBytes(fromHex(vectors.sealed.private_key));
  check("sealed public key", toHex(recipient.publicKeyRaw), vectors.sealed.public_key);
  for (const [i, m] of vectors.sealed.messages.entries()) {
    await attempt(`sealed[${i}]`, async () => {
      const opened = await openSealed(recipient, fromHex(m.sealed), utf8(m.context));
      check(`sealed[${i}] plaintext`, toHex(opened), m.plaintext);
      for (const [label, sealed, context2] of [
        ["other context", fromHex(m.sealed), utf8(`${m.context} `)],
        ["flipped byte", flip(fromHex(m.sealed), 40), utf8(m.context)],
        ["truncated", fromHex(m.sealed).subarray(0, 48), utf8(m.context)]
      ]) {
        try {
          await openSealed(recipient, sealed, context2);
          bad.push(`sealed[${i}] opened with ${label}`);
        } catch {
        }
      }
    });
  }
  for (const [i, v] of vectors.canonical.entries()) {
    await attempt(`canonical[${i}]`, async () => {
      check(`canonical[${i}]`, toHex(canonicalJson(JSON.parse(v.value))), v.canonical);
    });
  }
  await attempt("actions", async () => {
    const a = vectors.actions;
    const key = await signingKeyFromSeed(a.signing_seed);
    const publicKey = fromHex(a.public_key);
    for (const [i, v] of a.cases.entries()) {
      const what = `actions[${i}] ${v.builder}`;
      const built = await buildCall(v.builder, v.args);
      check(`${what} room`, built.roomId, v.call.room_id);
      check(`${what} action`, built.action, v.call.action);
      check(
        `${what} arguments`,
        fromUtf8(canonicalJson({ ...built.arguments })),
        fromUtf8(canonicalJson(v.call.arguments))
      );
      check(`${what} message`, toHex(actionMessage(built, publicKey, a.nonce, a.issued_at_ms)), v.message);
      const header2 = await signActionWithNonce(
        key,
        publicKey,
        built,
        a.issued_at_ms,
        a.nonce,
        v.certificate === null ? null : fromHex(v.certificate)
      );
      check(`${what} header`, header2, v.header);
    }
  });
  for (const [i, v] of vectors.keys.entries()) {
    await attempt(`keys[${i}]`, async () => {
      const der = pkcs8FromPem(v.pem);
      check(`keys[${i}] pkcs8 seed`, toHex(der.subarray(16)), v.seed);
      const extractable = await signingKeyFromSeed(v.seed, true);
      const exported = new Uint8Array(await crypto.subtle.exportKey("pkcs8", extractable));
      check(`keys[${i}] pem`, pemFromPkcs8(exported), v.pem);
      const jwk = await crypto.subtle.exportKey("jwk", extractable);
      const publicKey = toHex(fromBase64Url(jwk.x ?? ""));
      check(`keys[${i}] public key`, publicKey, v.public_key);
      check(`keys[${i}] fingerprint`, await fingerprint(fromHex(v.public_key)), v.fingerprint);
      check(`keys[${i}] formatted`, formatFingerprint(v.fingerprint), v.formatted);
    });
  }
  return bad;
}
function flip(data, index) {
  const out = data.slice();
  out[index] = out[index] ^ 1;
  return out;
}
async function sealFor(publicKeyHex, plaintextB64, contextB64) {
  return toBase64(await seal(fromHex(publicKeyHex), fromBase64(plaintextB64), fromBase64(contextB64)));
}
var recipients = /* @__PURE__ */ new Map();
async function newRecipient() {
  const recipient = await generateRecipient();
  const id = toHex(crypto.getRandomValues(new Uint8Array(8)));
  recipients.set(id, recipient);
  return { id, publicKeyHex: toHex(recipient.publicKeyRaw), extractable: recipient.privateKey.extractable };
}
async function openForRecipient(id, sealedB64, contextB64) {
  const recipient = recipients.get(id);
  if (recipient === void 0) throw new Error("no such recipient in this page");
  return toBase64(await openSealed(recipient, fromBase64(sealedB64), fromBase64(contextB64)));
}
async function encryptForTest(keyHex, chunkSize, plaintextB64) {
  const { manifest, chunks } = await encryptBytes(fromHex(keyHex), fromBase64(plaintextB64), chunkSize);
  return {
    manifest: fromUtf8(manifestBytes(manifest)),
    datasetId: await datasetIdOf(manifest),
    chunks: chunks.map((chunk) => toBase64(chunk.ciphertext))
  };
}
async function signWithImportedPem(email, pem, builder, args) {
  const stored = await importPem(email, pem, { replace: true });
  const header2 = await signAction(
    stored.privateKey,
    stored.publicKeyRaw,
    await buildCall(builder, args),
    Date.now()
  );
  return { header: header2, fingerprint: stored.fingerprint, extractable: stored.privateKey.extractable };
}
async function createKeyForTest(email) {
  const { key, backupPem } = await createKey(email, { replace: true });
  return {
    backupPem,
    fingerprint: key.fingerprint,
    publicKeyHex: toHex(key.publicKeyRaw),
    extractable: key.privateKey.extractable
  };
}
async function storedKeyFacts(email) {
  const key = await loadKey(email);
  if (key === null) return null;
  let exportRefused = false;
  try {
    await crypto.subtle.exportKey("pkcs8", key.privateKey);
  } catch {
    exportRefused = true;
  }
  return {
    fingerprint: key.fingerprint,
    publicKeyHex: toHex(key.publicKeyRaw),
    extractable: key.privateKey.extractable,
    algorithm: key.privateKey.algorithm.name,
    usages: [...key.privateKey.usages],
    exportRefused
  };
}
async function signStored(email, builder, args, room, headers) {
  const signer = await participantSigner(email, { headers });
  return signer.prove(buildCall(builder, args), room);
}
async function uploadForTest(dataB64, headers, chunkSize, name) {
  const progress = [];
  const file = new File([fromBase64(dataB64).slice().buffer], name);
  const uploaded = await encryptAndUpload(file, {
    headers,
    chunkSize,
    name,
    onProgress: (done, total) => progress.push([done, total])
  });
  return {
    datasetId: uploaded.datasetId,
    keyHex: toHex(uploaded.key),
    manifest: uploaded.manifest,
    size: uploaded.size,
    progress
  };
}

// src/trust.ts
var VerificationError = class extends Error {
  constructor(message) {
    super(message);
    this.name = "VerificationError";
  }
};
var AttestationError = class extends VerificationError {
  constructor(message) {
    super(message);
    this.name = "AttestationError";
  }
};
async function ed25519Verify(publicKey, signature, message) {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  let key;
  try {
    key = await crypto.subtle.importKey("raw", buffer(publicKey), { name: "Ed25519" }, false, [
      "verify"
    ]);
  } catch {
    return false;
  }
  try {
    return await crypto.subtle.verify({ name: "Ed25519" }, key, buffer(signature), buffer(message));
  } catch {
    return false;
  }
}
function strictHex(value, bytes, what) {
  if (typeof value !== "string" || !/^(?:[0-9a-f]{2})*$/.test(value)) {
    throw new VerificationError(`${what} is not lower-case hex`);
  }
  const raw = fromHex(value);
  if (bytes !== null && raw.length !== bytes) {
    throw new VerificationError(`${what} is not ${bytes} bytes`);
  }
  return raw;
}
function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
function isSafeInt(value) {
  return typeof value === "number" && Number.isSafeInteger(value);
}
function codePoints(text) {
  let count = 0;
  for (const _ of text) count++;
  return count;
}
function asFetcher(source) {
  if (typeof source !== "function") return source;
  return {
    json: source,
    text: () => Promise.reject(new Error("this fetcher only gets JSON")),
    request: () => Promise.reject(new Error("this fetcher only gets JSON"))
  };
}
var HttpError = class extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
    this.name = "HttpError";
  }
  status;
  code;
};
function makeFetcher(headers = {}, base = "") {
  async function request2(path, init = {}) {
    const merged = new Headers(init.headers);
    for (const [name, value] of Object.entries(headers)) {
      if (!merged.has(name)) merged.set(name, value);
    }
    const response = await fetch(base + path, {
      ...init,
      headers: merged,
      credentials: "same-origin"
    });
    if (!response.ok) {
      let code = "";
      let detail = `${response.status} ${response.statusText}`;
      try {
        const body = await response.json();
        if (isObject(body)) {
          if (typeof body["code"] === "string") code = body["code"];
          if (typeof body["detail"] === "string") detail = body["detail"];
        }
      } catch {
      }
      throw new HttpError(response.status, code, `${path}: ${detail}`);
    }
    return response;
  }
  return {
    request: request2,
    async json(path) {
      const response = await request2(path, { headers: { Accept: "application/json" } });
      return await response.json();
    },
    async text(path) {
      return await (await request2(path)).text();
    }
  };
}
function defaultMemory() {
  return globalThis.localStorage;
}
var memoryKeys = {
  serverPin: "sealroom/core-keys/server",
  roomPin: (roomId) => `sealroom/core-keys/rooms/${checkRoomId(roomId)}`,
  checkpoint: (roomId) => `sealroom/audit-checkpoints/${checkRoomId(roomId)}`,
  roomVersion: (roomId) => `sealroom/room-versions/${checkRoomId(roomId)}`
};
function checkRoomId(roomId) {
  if (!/^[0-9a-f]{64}$/.test(roomId)) throw new VerificationError("a room id is 64 lower-case hex digits");
  return roomId;
}
function readRecord(memory, key) {
  const text = memory.getItem(key);
  if (text === null) return null;
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  if (!isObject(value)) {
    throw new VerificationError(
      `what this browser saved under ${key} is unreadable; clear this site's data to trust the server afresh`
    );
  }
  return value;
}
function writeRecord(memory, key, value) {
  memory.setItem(key, JSON.stringify(value));
}
function recordForKey(memory, key, roomId, verifyKey) {
  const record = readRecord(memory, key);
  if (record === null) return null;
  if (record["core_public_key"] !== toHex(verifyKey)) {
    throw new VerificationError(
      `the core's signing key changed since this browser last verified room ${roomId}: the server may have been replaced. If that is expected, clear this site's data`
    );
  }
  return record;
}

// src/attestation.ts
var SIMULATED_PROVIDER = "simulated";
var CORE_ENCLAVE_NAME = "sealroom.core";
var MIN_NONCE_BYTES = 16;
var MAX_NONCE_BYTES = 64;
var DEFAULT_MAX_AGE_MS = 3e5;
var MAX_CLOCK_SKEW_MS = 6e4;
var SIMULATED_EVIDENCE_DOMAIN = "sealroom/simulated-evidence/v1";
function specificationId(spec) {
  return `${spec.name}:${spec.version}`;
}
var SPEC_FIELDS = ["name", "version", "measurement", "accepted_providers"];
var HARDWARE_SPEC_FIELDS = ["snp_launch_measurements", "nitro_pcrs", "snp_min_tcb", "snp_vmpl"];
function parseSpecifications(data) {
  const items = Array.isArray(data) ? data : [data];
  const specs = [];
  for (const item of items) {
    if (!isObject(item) || !SPEC_FIELDS.every((f) => f in item) || !Object.keys(item).every((f) => SPEC_FIELDS.includes(f) || HARDWARE_SPEC_FIELDS.includes(f))) {
      throw new Error(`an enclave specification has exactly the fields ${SPEC_FIELDS.join(", ")}`);
    }
    const { name, version, measurement } = item;
    const providers = item["accepted_providers"];
    if (typeof name !== "string" || !name || typeof version !== "string" || !version) {
      throw new Error("enclave specification: name and version must be non-empty strings");
    }
    if (typeof measurement !== "string" || !/^[0-9a-f]{64}$/.test(measurement)) {
      throw new Error("enclave specification: measurement must be 64 lower-case hex digits");
    }
    if (!Array.isArray(providers) || providers.length === 0 || !providers.every((p) => typeof p === "string" && p)) {
      throw new Error("enclave specification: accepted_providers must be a non-empty list");
    }
    const spec = { name, version, measurement, acceptedProviders: [...providers] };
    if (specs.some((seen) => specificationId(seen) === specificationId(spec))) {
      throw new Error(`two specifications ${specificationId(spec)}`);
    }
    specs.push(Object.freeze(spec));
  }
  return specs;
}
var TOKEN = /* @__PURE__ */ Symbol("verifyAttestation");
var VerifiedAttestation = class {
  provider;
  measurement;
  coreVersion;
  /** True when nothing but software stands behind the attestation: show it on the page. */
  simulated;
  /** The document's own warning (SIMULATED_WARNING for simulated evidence). */
  warning;
  issuedAtMs;
  /** X25519, raw 32 bytes: seal dataset keys to it. */
  kemPublicKey;
  /** Ed25519, raw 32 bytes: check the core's signatures with it. */
  verifyKey;
  specification;
  document;
  constructor(token, document2, specification) {
    if (token !== TOKEN) throw new TypeError("VerifiedAttestation is built only by verifyAttestation()");
    this.document = document2;
    this.specification = specification;
    this.provider = document2.provider;
    this.measurement = document2.measurement;
    this.coreVersion = document2.core_version;
    this.simulated = document2.provider === SIMULATED_PROVIDER;
    this.warning = document2.warning;
    this.issuedAtMs = document2.issued_at_ms;
    this.kemPublicKey = fromHex(document2.kem_public_key);
    this.verifyKey = fromHex(document2.signing_public_key);
    Object.freeze(this);
  }
  /** The core's Ed25519 key as a WebCrypto key (for callers that want one). */
  async verifyCryptoKey() {
    return crypto.subtle.importKey("raw", this.verifyKey.slice().buffer, { name: "Ed25519" }, true, [
      "verify"
    ]);
  }
};
var HEX64 = /^[0-9a-f]{64}$/;
var DOCUMENT_FIELDS = {
  // Not a boolean, exactly 1 (pydantic: int, ge=1, le=1).
  version: (v) => v === 1,
  provider: (v) => typeof v === "string" && /^[a-z0-9][a-z0-9._-]{0,63}$/.test(v),
  measurement: (v) => typeof v === "string" && HEX64.test(v),
  core_version: (v) => typeof v === "string" && /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/.test(v),
  kem_public_key: (v) => typeof v === "string" && HEX64.test(v),
  signing_public_key: (v) => typeof v === "string" && HEX64.test(v),
  nonce: (v) => typeof v === "string" && new RegExp(`^(?:[0-9a-f]{2}){${MIN_NONCE_BYTES},${MAX_NONCE_BYTES}}$`).test(v),
  issued_at_ms: (v) => isSafeInt(v) && v >= 0,
  report_data: (v) => typeof v === "string" && HEX64.test(v),
  evidence: (v) => isObject(v),
  warning: (v) => typeof v === "string" && codePoints(v) <= 1e3
};
var OPTIONAL_FIELDS = { version: 1, warning: "" };
function parseAttestationDocument(raw) {
  if (!isObject(raw)) throw new AttestationError("malformed attestation document (not a JSON object)");
  const bad = /* @__PURE__ */ new Set();
  for (const key of Object.keys(raw)) if (!(key in DOCUMENT_FIELDS)) bad.add(key);
  const body = {};
  for (const [field, valid] of Object.entries(DOCUMENT_FIELDS)) {
    const value = field in raw ? raw[field] : OPTIONAL_FIELDS[field];
    if (value === void 0 || !valid(value)) bad.add(field);
    body[field] = value;
  }
  if (bad.size > 0) {
    throw new AttestationError(`malformed attestation document (fields: ${[...bad].sort().join(", ")})`);
  }
  return Object.freeze(body);
}
async function computeReportData(document2) {
  return sha256Hex(
    canonicalJson({
      measurement: document2.measurement,
      core_version: document2.core_version,
      kem_public_key: document2.kem_public_key,
      signing_public_key: document2.signing_public_key,
      nonce: document2.nonce,
      provider: document2.provider,
      issued_at_ms: document2.issued_at_ms
    })
  );
}
async function verifyAttestation(raw, specs, options) {
  const document2 = parseAttestationDocument(raw);
  let candidates = specs.filter((spec) => spec.name === CORE_ENCLAVE_NAME);
  if (candidates.length === 0) {
    throw new AttestationError(`no enclave specification for '${CORE_ENCLAVE_NAME}' was given`);
  }
  candidates = candidates.filter((spec) => spec.acceptedProviders.includes(document2.provider));
  if (candidates.length === 0) {
    throw new AttestationError(
      `attestation provider '${document2.provider}' is not accepted by the specification`
    );
  }
  const specification = candidates.find((spec) => spec.measurement === document2.measurement);
  if (specification === void 0) {
    throw new AttestationError(
      `the core runs code you do not trust: it reports measurement ${document2.measurement}, which no specification you trust has (you trust: ${candidates.map(specificationId).sort().join(", ")}). The core states version ${document2.core_version} (its own claim).`
    );
  }
  if (document2.nonce !== toHex(options.nonce)) {
    throw new AttestationError("the attestation document is not for our nonce (replayed)");
  }
  const now = options.nowMs ?? Date.now();
  const maxAge = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  if (document2.issued_at_ms > now + MAX_CLOCK_SKEW_MS) {
    throw new AttestationError("the attestation document is issued in the future (clock skew?)");
  }
  if (now - document2.issued_at_ms > maxAge) {
    throw new AttestationError(`the attestation document is older than ${maxAge} ms (stale)`);
  }
  const reportData = await computeReportData(document2);
  if (reportData !== document2.report_data) {
    throw new AttestationError("report_data does not match the document (keys swapped?)");
  }
  if (document2.provider !== SIMULATED_PROVIDER) {
    throw new AttestationError(
      `the core attests with '${document2.provider}' evidence, which this browser cannot verify yet (it can only verify simulated evidence): verify the server with the SDK (\`sealroom attest URL\`)`
    );
  }
  const evidence = document2.evidence;
  const signature = evidence["signature"];
  if (Object.keys(evidence).length !== 1 || typeof signature !== "string") {
    throw new AttestationError("simulated evidence must be exactly {'signature': hex}");
  }
  let signatureBytes;
  try {
    signatureBytes = fromHex(signature);
  } catch {
    throw new AttestationError("simulated evidence: invalid signature");
  }
  const message = new Uint8Array([
    ...new TextEncoder().encode(SIMULATED_EVIDENCE_DOMAIN),
    ...fromHex(reportData)
  ]);
  if (!await ed25519Verify(fromHex(document2.signing_public_key), signatureBytes, message)) {
    throw new AttestationError("simulated evidence: invalid signature");
  }
  return new VerifiedAttestation(TOKEN, document2, specification);
}
function freshNonce() {
  return crypto.getRandomValues(new Uint8Array(32));
}
async function attest(fetcher, specs, options = {}) {
  const nonce = options.nonce ?? freshNonce();
  const document2 = await fetcher.json(`/v1/enclave/attestation?nonce=${toHex(nonce)}`);
  const verified = await verifyAttestation(document2, specs, {
    nonce,
    ...options.nowMs === void 0 ? {} : { nowMs: options.nowMs }
  });
  checkServerPin(verified, options.memory ?? defaultMemory());
  return verified;
}
function checkServerPin(attested2, memory = defaultMemory()) {
  checkPin(memory, memoryKeys.serverPin, attested2, "this server", { origin: globalThis.location?.origin ?? "" });
}
function checkRoomPin(roomId, attested2, memory = defaultMemory()) {
  const key = memoryKeys.roomPin(roomId);
  if (memory.getItem(key) === null) {
    for (const earlier of [memoryKeys.checkpoint(roomId), memoryKeys.roomVersion(roomId)]) {
      const record = readRecord(memory, earlier);
      if (record !== null && record["core_public_key"] !== toHex(attested2.verifyKey)) {
        throw changed(`room ${roomId}`, earlier);
      }
    }
  }
  checkPin(memory, key, attested2, `room ${roomId}`, {});
}
function checkPin(memory, key, attested2, what, extra) {
  const current = {
    core_public_key: toHex(attested2.verifyKey),
    kem_public_key: toHex(attested2.kemPublicKey)
  };
  const stored = readRecord(memory, key);
  if (stored === null) {
    writeRecord(memory, key, { ...extra, ...current });
    return;
  }
  if (typeof stored["core_public_key"] !== "string" || typeof stored["kem_public_key"] !== "string") {
    throw new VerificationError(
      `the pinned core keys of ${what} (${key}) are unreadable; clear this site's data to trust the server afresh`
    );
  }
  if (stored["core_public_key"] !== current.core_public_key || stored["kem_public_key"] !== current.kem_public_key) {
    throw changed(what, key);
  }
}
function changed(what, key) {
  return new VerificationError(
    `the core of ${what} presents other keys than the ones this browser pinned (${key}): the server may be posing as the core, and nothing was sent. If the operator replaced the core on purpose, confirm its new key with them (\`sealroom attest\`), then clear this site's data`
  );
}

// src/signed.ts
var HEX642 = /^[0-9a-f]{64}$/;
function roomSignatureMessage(roomId, definitionText) {
  return concat(utf8("sealroom/room-definition/v1"), utf8(roomId), utf8(definitionText));
}
async function initialHistoryPin(roomId) {
  return sha256Hex(concat(utf8("sealroom/history-pin/v1"), utf8(roomId)));
}
async function nextHistoryPin(pin, commitId) {
  return sha256Hex(concat(utf8("sealroom/history-pin/v1"), fromHex(pin), fromHex(commitId)));
}
function commitRecordMessage(roomId, sequence, commitText, pinAfter) {
  return concat(
    utf8("sealroom/room-commit/v1"),
    utf8(`${roomId}/${sequence}/${pinAfter}/`),
    utf8(commitText)
  );
}
async function verifyDefinition(roomId, definitionText, signatureHex, verifyKey) {
  checkRoomId(roomId);
  if (await sha256Hex(utf8(definitionText)) !== roomId) {
    throw new VerificationError(`the definition served for room ${roomId} does not match its id`);
  }
  const signature = strictHex(signatureHex, 64, `room ${roomId}: the definition's signature`);
  if (!await ed25519Verify(verifyKey, signature, roomSignatureMessage(roomId, definitionText))) {
    throw new VerificationError(`room ${roomId}: the definition is not signed by the core`);
  }
  const definition = JSON.parse(definitionText);
  if (!isObject(definition)) throw new VerificationError(`room ${roomId}: the definition is not a JSON object`);
  return definition;
}
async function verifyHistory(roomId, commits, verifyKey) {
  const pins = [await initialHistoryPin(roomId)];
  const verified = [];
  for (const [index, entry] of commits.entries()) {
    const sequence = index + 1;
    const altered = new VerificationError(`room ${roomId}: commit ${sequence} was altered`);
    let commit;
    try {
      commit = JSON.parse(entry.commit);
    } catch {
      throw altered;
    }
    if (!isObject(commit) || commit["room_id"] !== roomId || commit["history_pin"] !== pins.at(-1)) throw altered;
    const commitId = await sha256Hex(utf8(entry.commit));
    const pin = await nextHistoryPin(pins.at(-1), commitId);
    let signature;
    try {
      signature = strictHex(entry.signature, 64, "signature");
    } catch {
      throw altered;
    }
    if (!await ed25519Verify(verifyKey, signature, commitRecordMessage(roomId, sequence, entry.commit, pin))) {
      throw altered;
    }
    verified.push(Object.freeze({ text: entry.commit, commit, commitId, sequence, pinAfter: pin }));
    pins.push(pin);
  }
  return { commits: verified, pins };
}
async function verifyRoomState(roomId, stateText, signatureHex, verifyKey, minVersion = 0) {
  const malformed = new VerificationError(`room ${roomId}: the signed state is malformed`);
  let signature;
  try {
    signature = strictHex(signatureHex, 64, "signature");
  } catch {
    signature = new Uint8Array(0);
  }
  const canonical = utf8(stateText);
  if (!await ed25519Verify(verifyKey, signature, concat(utf8("sealroom/room-state/v1"), canonical))) {
    throw new VerificationError(`room ${roomId}: the state is not signed by the core`);
  }
  let body;
  try {
    body = JSON.parse(stateText);
  } catch {
    throw new VerificationError(`room ${roomId}: the signed state is not JSON`);
  }
  const fields = ["room_id", "version", "status", "datasets", "history_pin"];
  if (!isObject(body) || Object.keys(body).length !== fields.length || !fields.every((f) => f in body)) {
    throw malformed;
  }
  const { datasets, version, status } = body;
  const pin = body["history_pin"];
  if (!isObject(datasets) || !Object.values(datasets).every((v) => typeof v === "string") || !isSafeInt(version) || status !== "active" && status !== "stopped" || typeof pin !== "string" || !HEX642.test(pin) || typeof body["room_id"] !== "string") {
    throw malformed;
  }
  const state = Object.freeze({
    room_id: body["room_id"],
    version,
    status,
    datasets: Object.freeze({ ...datasets }),
    history_pin: pin
  });
  if (state.room_id !== roomId) throw new VerificationError(`room ${roomId}: the server sent the state of another room`);
  let recoded;
  try {
    recoded = canonicalJson({ ...state, datasets: { ...state.datasets } });
  } catch {
    throw malformed;
  }
  if (toHex(recoded) !== toHex(canonical)) throw new VerificationError(`room ${roomId}: the signed state is not canonical`);
  if (state.version < minVersion) {
    throw new VerificationError(
      `room ${roomId}: the server sent state version ${state.version}, older than version ${minVersion} you saw before (rolled back)`
    );
  }
  return state;
}
function roomCounter(memory, roomId, verifyKey, name) {
  const record = recordForKey(memory, memoryKeys.roomVersion(roomId), roomId, verifyKey);
  const value = record?.[name];
  return isSafeInt(value) ? value : 0;
}
function saveRoomVersion(memory, roomId, verifyKey, version, commits = 0) {
  const known = [roomCounter(memory, roomId, verifyKey, "version"), roomCounter(memory, roomId, verifyKey, "commits")];
  const wanted = [Math.max(version, known[0]), Math.max(commits, known[1])];
  if (wanted[0] === known[0] && wanted[1] === known[1]) return;
  writeRecord(memory, memoryKeys.roomVersion(roomId), {
    core_public_key: toHex(verifyKey),
    version: wanted[0],
    commits: wanted[1]
  });
}
async function retrieveRoomState(roomId, source, core, memory = defaultMemory()) {
  const fetcher = asFetcher(source);
  checkRoomPin(roomId, core, memory);
  const body = await fetcher.json(`/v1/rooms/${roomId}/state`);
  if (!isObject(body) || typeof body["state"] !== "string" || typeof body["signature"] !== "string") {
    throw new VerificationError(`the server sent a malformed state of room ${roomId}`);
  }
  const state = await verifyRoomState(
    roomId,
    body["state"],
    body["signature"],
    core.verifyKey,
    roomCounter(memory, roomId, core.verifyKey, "version")
  );
  saveRoomVersion(memory, roomId, core.verifyKey, state.version);
  return state;
}
async function verifyRoom(roomId, source, core, memory = defaultMemory()) {
  const fetcher = asFetcher(source);
  checkRoomId(roomId);
  for (let attempt = 0; ; attempt++) {
    checkRoomPin(roomId, core, memory);
    const body = await fetcher.json(`/v1/rooms/${roomId}`);
    if (!isObject(body) || typeof body["definition"] !== "string" || typeof body["signature"] !== "string" || !Array.isArray(body["commits"]) || !body["commits"].every(
      (c) => isObject(c) && typeof c["commit"] === "string" && typeof c["signature"] === "string"
    )) {
      throw new VerificationError(`the server sent a malformed definition of room ${roomId}`);
    }
    const definitionText = body["definition"];
    const definition = await verifyDefinition(roomId, definitionText, body["signature"], core.verifyKey);
    const { commits, pins } = await verifyHistory(
      roomId,
      body["commits"],
      core.verifyKey
    );
    const state = await retrieveRoomState(roomId, fetcher, core, memory);
    if (state.history_pin !== pins.at(-1)) {
      if (attempt === 1 || pins.includes(state.history_pin)) {
        throw new VerificationError(
          `room ${roomId}: the server sent ${commits.length} commit(s), but the core's signed state names another history (commits were dropped: rolled back)`
        );
      }
      continue;
    }
    const seen = roomCounter(memory, roomId, core.verifyKey, "commits");
    if (commits.length < seen) {
      throw new VerificationError(
        `room ${roomId}: the server sent ${commits.length} commit(s), fewer than the ${seen} this browser saw before (rolled back)`
      );
    }
    saveRoomVersion(memory, roomId, core.verifyKey, state.version, commits.length);
    const created = body["created_at_ms"];
    return Object.freeze({
      roomId,
      definition,
      definitionText,
      commits,
      historyPin: pins.at(-1),
      state,
      status: state.status,
      createdAtMs: isSafeInt(created) ? created : null
    });
  }
}
async function resultReleaseOf(facts, sealed) {
  return { ...facts, sealedSha256: toHex(await sha256(sealed)) };
}
function resultReleaseCanonical(release) {
  return canonicalJson({
    room_id: release.roomId,
    node: release.node,
    job_id: release.jobId,
    parameters: { ...release.parameters },
    recipient_public_key: release.recipientPublicKey,
    format: release.format,
    sealed_sha256: release.sealedSha256
  });
}
async function verifyResultRelease(expected, signature, verifyKey) {
  const message = concat(utf8("sealroom/result-release/v1"), resultReleaseCanonical(expected));
  if (!await ed25519Verify(verifyKey, signature, message)) {
    throw new VerificationError(
      `the result of job ${expected.jobId} is not the core's release of it to your key (the server altered the result or re-sealed it, or replaced your key; check the room's audit log for the key the job was submitted with)`
    );
  }
}

// src/audit.ts
var HASH_SIZE = 32;
var MAX_PROOF_HASHES = 65;
async function leafHash(data) {
  return sha256(concat(Uint8Array.of(0), data));
}
async function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}
async function emptyRoot() {
  return sha256(new Uint8Array(0));
}
function split2(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
var MerkleTree = class {
  // levels[h][i]: hash of the 2**h leaves from i * 2**h.
  levels = [[]];
  get size() {
    return this.levels[0].length;
  }
  async append(leaf) {
    if (leaf.length !== HASH_SIZE) throw new Error(`a leaf hash is ${HASH_SIZE} bytes`);
    const index = this.size;
    this.levels[0].push(leaf);
    let level = 0;
    let position = index;
    while (position % 2 === 1) {
      const row = this.levels[level];
      const parent = await nodeHash(row[position - 1], row[position]);
      if (this.levels.length === level + 1) this.levels.push([]);
      this.levels[level + 1].push(parent);
      level += 1;
      position = Math.floor(position / 2);
    }
    return index;
  }
  /** MTH of the first `size` leaves (default: all). */
  async root(size = this.size) {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) throw new Error("tree size outside the log");
    return size === 0 ? emptyRoot() : this.hash(0, size);
  }
  async inclusionProof(index, size) {
    if (size < 0 || size > this.size || index < 0 || index >= size) throw new Error("outside the tree");
    const proof = [];
    let start = 0;
    let n = size;
    let m = index;
    while (n > 1) {
      const k = split2(n);
      if (m < k) {
        proof.push(await this.hash(start + k, n - k));
        n = k;
      } else {
        proof.push(await this.hash(start, k));
        start += k;
        n -= k;
        m -= k;
      }
    }
    return proof.reverse();
  }
  async consistencyProof(first, second) {
    if (second < 0 || second > this.size || first < 0 || first > second) throw new Error("outside the tree");
    if (first === 0 || first === second) return [];
    const proof = [];
    let start = 0;
    let n = second;
    let m = first;
    let whole = true;
    while (m !== n) {
      const k = split2(n);
      if (m <= k) {
        proof.push(await this.hash(start + k, n - k));
        n = k;
      } else {
        proof.push(await this.hash(start, k));
        start += k;
        n -= k;
        m -= k;
        whole = false;
      }
    }
    if (!whole) proof.push(await this.hash(start, m));
    return proof.reverse();
  }
  async hash(start, n) {
    if ((n & n - 1) === 0 && start % n === 0) {
      return this.levels[Math.log2(n)][start / n];
    }
    const k = split2(n);
    return nodeHash(await this.hash(start, k), await this.hash(start + k, n - k));
  }
};
function checkHash(value, what) {
  if (!(value instanceof Uint8Array) || value.length !== HASH_SIZE) {
    throw new VerificationError(`${what} is not a ${HASH_SIZE}-byte hash`);
  }
}
function checkProof(proof) {
  if (proof.length > MAX_PROOF_HASHES) throw new VerificationError("proof is too long");
  for (const item of proof) checkHash(item, "a proof element");
}
function checkSize(value, what) {
  if (!Number.isSafeInteger(value) || value < 0) throw new VerificationError(`${what} is not a tree size`);
}
async function verifyInclusion(index, size, leaf, proof, root) {
  checkHash(leaf, "the leaf hash");
  checkHash(root, "the root hash");
  checkProof(proof);
  checkSize(index, "the leaf index");
  checkSize(size, "the tree size");
  if (!(index < size)) throw new VerificationError("inclusion proof: leaf index outside the tree");
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new VerificationError("inclusion proof: longer than the tree is deep");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerificationError("inclusion proof: shorter than the tree is deep");
  if (!bytesEqual(r, root)) throw new VerificationError("inclusion proof: does not lead to the root");
}
async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  checkHash(firstRoot, "the first root");
  checkHash(secondRoot, "the second root");
  checkProof(proof);
  checkSize(first, "the first size");
  checkSize(second, "the second size");
  if (first > second) {
    throw new VerificationError("consistency proof: the first size is larger than the second");
  }
  if (first === 0 && !bytesEqual(firstRoot, await emptyRoot())) {
    throw new VerificationError("consistency proof: the empty tree has another root");
  }
  if (first === second) {
    if (proof.length > 0) throw new VerificationError("consistency proof: must be empty for equal sizes");
    if (!bytesEqual(firstRoot, secondRoot)) {
      throw new VerificationError("consistency proof: same size, different roots (a fork)");
    }
    return;
  }
  if (first === 0) {
    if (proof.length > 0) throw new VerificationError("consistency proof: must be empty from an empty tree");
    return;
  }
  if (proof.length === 0) throw new VerificationError("consistency proof: empty");
  const path = [...proof];
  const m = BigInt(first);
  if ((m & m - 1n) === 0n) path.unshift(firstRoot);
  let fn = m - 1n;
  let sn = BigInt(second) - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new VerificationError("consistency proof: longer than needed");
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerificationError("consistency proof: shorter than needed");
  if (!bytesEqual(fr, firstRoot)) throw new VerificationError("consistency proof: does not lead to the first root");
  if (!bytesEqual(sr, secondRoot)) throw new VerificationError("consistency proof: does not lead to the second root");
}
var MAX_NOTE_BYTES = 8192;
var SIGNATURE_PREFIX = "— ";
var NAME = /^[^\s+]+$/u;
var NOTE_CONTROL = /[\x00-\x09\x0b-\x1f]/;
async function keyId(name, publicKey) {
  return (await sha256(concat(utf8(name), utf8("\n"), Uint8Array.of(1), publicKey))).subarray(0, 4);
}
function strictBase64(text, what) {
  let raw;
  try {
    raw = fromBase64(text);
  } catch {
    throw new VerificationError(`${what} is not base64`);
  }
  if (toBase64(raw) !== text) throw new VerificationError(`${what} is not in canonical base64`);
  return raw;
}
function signatureLine(line) {
  if (!line.startsWith(SIGNATURE_PREFIX)) throw new VerificationError("signed note: malformed signature line");
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(" ");
  const signer = space < 0 ? rest : rest.slice(0, space);
  if (space < 0 || !NAME.test(signer)) throw new VerificationError("signed note: malformed signature line");
  const blob = rest.slice(space + 1);
  let raw;
  try {
    raw = fromBase64(blob);
  } catch {
    throw new VerificationError("signed note: signature is not base64");
  }
  if (toBase64(raw) !== blob) throw new VerificationError("signed note: signature is not in canonical base64");
  if (raw.length <= 4) throw new VerificationError("signed note: signature line without a signature");
  return [signer, raw];
}
async function openNote(note, name, publicKey) {
  if (!note.isWellFormed()) throw new VerificationError("signed note: not valid UTF-8");
  if (utf8(note).length > MAX_NOTE_BYTES) throw new VerificationError("signed note: too long");
  if (NOTE_CONTROL.test(note)) throw new VerificationError("signed note: control character");
  const cut = note.indexOf("\n\n");
  const text = cut < 0 ? note : note.slice(0, cut);
  const signatures = cut < 0 ? "" : note.slice(cut + 2);
  if (cut < 0 || !text || !signatures.endsWith("\n")) {
    throw new VerificationError("signed note: malformed (no text and signature block)");
  }
  const body = text + "\n";
  const lines = signatures.slice(0, -1).split("\n").map(signatureLine);
  const wanted = await keyId(name, publicKey);
  for (const [signer, raw] of lines) {
    if (signer !== name || !bytesEqual(raw.subarray(0, 4), wanted)) continue;
    if (raw.length !== 4 + 64) throw new VerificationError("signed note: Ed25519 signature of the wrong length");
    if (!await ed25519Verify(publicKey, raw.subarray(4), utf8(body))) {
      throw new VerificationError(`signed note: invalid signature by ${name}`);
    }
    return body;
  }
  throw new VerificationError(`signed note: no signature by ${name} with the expected key`);
}
function roomOrigin(roomId) {
  return `sealroom/rooms/${roomId}/audit`;
}
function parseCheckpoint(text) {
  const lines = text.split("\n");
  if (lines.length !== 4 || lines[3] !== "") {
    throw new VerificationError("checkpoint: expected origin, size and root lines");
  }
  const [origin, size, root] = lines;
  if (!origin || !NAME.test(origin)) throw new VerificationError("checkpoint: malformed origin");
  if (!/^(0|[1-9][0-9]{0,19})$/.test(size) || BigInt(size) >= 2n ** 63n) {
    throw new VerificationError("checkpoint: malformed tree size");
  }
  if (BigInt(size) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new VerificationError("checkpoint: tree size beyond what this browser counts");
  }
  let rootHash;
  try {
    rootHash = fromBase64(root);
  } catch {
    throw new VerificationError("checkpoint: root hash is not base64");
  }
  if (rootHash.length !== HASH_SIZE || toBase64(rootHash) !== root) {
    throw new VerificationError("checkpoint: root hash is not 32 bytes in canonical base64");
  }
  return Object.freeze({ origin, size: Number(size), rootHash });
}
async function openCheckpoint(note, origin, publicKey) {
  const checkpoint = parseCheckpoint(await openNote(note, origin, publicKey));
  if (checkpoint.origin !== origin) throw new VerificationError("checkpoint: of another log (origin differs)");
  return checkpoint;
}
var ACTION_LABELS = {
  ROOM_PUBLISHED: "Room published",
  ROOM_STOPPED: "Room stopped",
  DATASET_PUBLISHED: "Dataset published",
  DATASET_REMOVED: "Dataset removed",
  DATASET_VALIDATED: "Dataset validated",
  VALIDATION_REPORT_RETRIEVED: "Validation report read",
  DATASET_STATISTICS_SHARED: "Statistics sharing changed",
  DATASET_STATISTICS_RETRIEVED: "Statistics read",
  JOB_SUBMITTED: "Computation run",
  JOB_COMPLETED: "Computation finished",
  JOB_FAILED: "Computation failed",
  RESULT_RETRIEVED: "Result retrieved",
  DATASET_KEY_USED: "Dataset used by a computation",
  AIRLOCK_QUOTA_CHARGED: "Airlock quota charged",
  PRIVACY_BUDGET_CHARGED: "Privacy budget charged",
  ACCESS_DENIED: "Access denied",
  DEVELOPMENT_JOB_SUBMITTED: "Development computation run",
  REQUEST_SUBMITTED: "Request submitted",
  REQUEST_APPROVED: "Request approved",
  REQUEST_REJECTED: "Request rejected",
  REQUEST_SUPERSEDED: "Request superseded",
  REQUEST_PREVIEW_SUBMITTED: "Request previewed",
  COMMIT_INTEGRATED: "Room changed (commit integrated)",
  TAMPERING_DETECTED: "Tampering detected"
};
var EVENT_FIELDS = ["room_id", "seq", "timestamp_ms", "user", "action", "notes", "details"];
var MAX_NOTES_CHARS = 2e3;
var MAX_USER_CHARS = 320;
var MAX_DETAILS = 32;
var MAX_DETAIL_KEY_CHARS = 64;
var MAX_DETAIL_VALUE_CHARS = 512;
var MAX_PROOF_DETAIL_CHARS = 16384;
var EVENT_CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/;
function checkText(where, name, value, max, allowEmpty) {
  if (typeof value !== "string") throw new VerificationError(`malformed audit entry${where}: ${name} must be a str`);
  if (!allowEmpty && !value) throw new VerificationError(`malformed audit entry${where}: ${name} must not be empty`);
  if (codePoints(value) > max) {
    throw new VerificationError(`malformed audit entry${where}: ${name} is longer than ${max} characters`);
  }
  if (EVENT_CONTROL.test(value)) {
    throw new VerificationError(`malformed audit entry${where}: ${name} contains control characters`);
  }
  if (!value.isWellFormed()) throw new VerificationError(`malformed audit entry${where}: ${name} is not valid Unicode text`);
  return value;
}
function checkCount(where, name, value) {
  if (!isSafeInt(value) || value < 0) {
    throw new VerificationError(`malformed audit entry${where}: ${name} must be between 0 and 2**53-1`);
  }
  return value;
}
function eventFromWire(raw) {
  const where = isObject(raw) && isSafeInt(raw["seq"]) ? ` ${raw["seq"]}` : "";
  if (!isObject(raw)) throw new VerificationError(`malformed audit entry${where}: wrong set of fields`);
  const keys = Object.keys(raw);
  if (keys.length !== EVENT_FIELDS.length || !EVENT_FIELDS.every((f) => f in raw)) {
    throw new VerificationError(`malformed audit entry${where}: wrong set of fields`);
  }
  const action = raw["action"];
  if (typeof action !== "string" || !(action in ACTION_LABELS)) {
    throw new VerificationError(`malformed audit entry${where}: unknown action`);
  }
  const rawDetails = raw["details"];
  if (!isObject(rawDetails)) throw new VerificationError(`malformed audit entry${where}: details is not an object`);
  const room_id = checkText(where, "room_id", raw["room_id"], MAX_DETAIL_VALUE_CHARS, false);
  const seq = checkCount(where, "seq", raw["seq"]);
  const timestamp_ms = checkCount(where, "timestamp_ms", raw["timestamp_ms"]);
  const user = checkText(where, "user", raw["user"], MAX_USER_CHARS, true);
  const notes = checkText(where, "notes", raw["notes"], MAX_NOTES_CHARS, true);
  const entries = Object.entries(rawDetails);
  if (entries.length > MAX_DETAILS) throw new VerificationError(`malformed audit entry${where}: more than ${MAX_DETAILS} details`);
  const details = {};
  for (const [key, value] of entries) {
    checkText(where, "details key", key, MAX_DETAIL_KEY_CHARS, false);
    if (typeof value === "string") {
      checkText(where, `details['${key}']`, value, key === "proof" ? MAX_PROOF_DETAIL_CHARS : MAX_DETAIL_VALUE_CHARS, true);
    } else if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) {
        throw new VerificationError(`malformed audit entry${where}: details['${key}'] is out of range`);
      }
    } else if (typeof value !== "boolean" && value !== null) {
      throw new VerificationError(`malformed audit entry${where}: details['${key}'] must be str, int, bool or None`);
    }
    details[key] = value;
  }
  return Object.freeze({ room_id, seq, timestamp_ms, user, action, notes, details: Object.freeze(details) });
}
function eventsFromWire(raw) {
  if (!Array.isArray(raw)) throw new VerificationError("malformed audit log: not a list of entries");
  return raw.map(eventFromWire);
}
function eventCanonical(event) {
  return canonicalJson(eventToWire(event));
}
function eventToWire(event) {
  return {
    room_id: event.room_id,
    seq: event.seq,
    timestamp_ms: event.timestamp_ms,
    user: event.user,
    action: event.action,
    notes: event.notes,
    details: { ...event.details }
  };
}
async function eventLeafHash(event) {
  return leafHash(eventCanonical(event));
}
var INVISIBLE = /[\p{Cf}\p{Co}\p{Cs}\p{Cn}\p{Zl}\p{Zp}]/gu;
function visible(text) {
  return text.replace(INVISIBLE, (c) => `\\u${c.codePointAt(0).toString(16).padStart(4, "0")}`);
}
function formatLines(events) {
  const quote2 = (t) => `"${t.replace(/"/g, '""')}"`;
  return events.map((e) => {
    const user = visible(e.user);
    return [
      String(e.timestamp_ms),
      /[,"\r\n]/.test(user) ? quote2(user) : user,
      quote2(visible(e.notes)),
      e.action
    ].join(",") + "\n";
  }).join("");
}
function describeEvent(event) {
  return Object.freeze({
    seq: event.seq,
    timestampMs: event.timestamp_ms,
    time: new Date(event.timestamp_ms).toISOString(),
    user: visible(event.user),
    action: event.action,
    label: ACTION_LABELS[event.action] ?? event.action,
    description: visible(event.notes),
    details: event.details,
    event
  });
}
async function verifyLog(roomId, events, note, verifyKey, previous = null) {
  const checkpoint = await openCheckpoint(note, roomOrigin(roomId), verifyKey);
  events.forEach((event, position) => {
    if (event.room_id !== roomId) throw new VerificationError(`audit entry ${position}: belongs to another room`);
    if (event.seq !== position) {
      throw new VerificationError(
        `audit entry ${position}: has seq ${event.seq}, expected ${position} (entries missing, duplicated or reordered)`
      );
    }
  });
  if (events.length !== checkpoint.size) {
    throw new VerificationError(`audit log has ${events.length} entries, its checkpoint commits to ${checkpoint.size}`);
  }
  const tree = new MerkleTree();
  for (const event of events) await tree.append(await eventLeafHash(event));
  if (!bytesEqual(await tree.root(), checkpoint.rootHash)) {
    throw new VerificationError("audit log does not match its signed checkpoint (entry edited)");
  }
  if (previous !== null) await checkExtends(previous, checkpoint.origin, tree);
  return Object.freeze({ roomId, events, checkpoint, note, tree });
}
async function checkExtends(previous, origin, tree) {
  if (previous.origin !== origin) throw new VerificationError("checkpoints of different logs");
  if (previous.size > tree.size) {
    throw new VerificationError(
      `audit log truncated: it has ${tree.size} entries, ${previous.size} were seen before`
    );
  }
  if (!bytesEqual(await tree.root(previous.size), previous.rootHash)) {
    throw new VerificationError(
      `audit log forked: not an extension of the history seen before (the first ${previous.size} entries differ)`
    );
  }
}
async function loadSavedCheckpoint(roomId, verifyKey, memory = defaultMemory()) {
  const record = recordForKey(memory, memoryKeys.checkpoint(roomId), roomId, verifyKey);
  if (record === null) return null;
  const note = String(record["checkpoint"]);
  try {
    return { note, checkpoint: await openCheckpoint(note, roomOrigin(roomId), verifyKey) };
  } catch (error) {
    throw new VerificationError(
      `the audit checkpoint this browser saved for room ${roomId} does not verify (${error.message}); it was altered: clear this site's data to trust the server afresh`
    );
  }
}
async function saveCheckpoint(roomId, verifyKey, note, checkpoint, memory = defaultMemory()) {
  const current = await loadSavedCheckpoint(roomId, verifyKey, memory);
  if (current !== null && current.checkpoint.size > checkpoint.size) return;
  writeRecord(memory, memoryKeys.checkpoint(roomId), { checkpoint: note, core_public_key: toHex(verifyKey) });
}
async function verifyAuditLog(roomId, source, core, options = {}) {
  const fetcher = asFetcher(source);
  const memory = options.memory ?? defaultMemory();
  checkRoomPin(roomId, core, memory);
  const body = await fetcher.json(`/v1/rooms/${roomId}/audit-log`);
  if (!isObject(body) || typeof body["checkpoint"] !== "string" || !Array.isArray(body["entries"])) {
    throw new VerificationError("the server sent a malformed audit log (entries and signed checkpoint)");
  }
  const events = eventsFromWire(body["entries"]);
  const note = body["checkpoint"];
  const key = core.verifyKey;
  const previous = options.lastSeen !== void 0 ? options.lastSeen : (await loadSavedCheckpoint(roomId, key, memory))?.checkpoint ?? null;
  const verified = await verifyLog(roomId, events, note, key, previous);
  if (previous !== null && previous.size > 0 && previous.size < verified.checkpoint.size) {
    const proof = await fetcher.json(
      `/v1/rooms/${roomId}/audit-log/proof/consistency?first=${previous.size}&second=${verified.checkpoint.size}`
    );
    if (!isObject(proof) || !Array.isArray(proof["proof"]) || !proof["proof"].every((p) => typeof p === "string")) {
      throw new VerificationError("the server sent a malformed consistency proof");
    }
    const hashes = proof["proof"].map((p) => strictBase64(p, "a proof element"));
    await verifyConsistency(previous.size, verified.checkpoint.size, previous.rootHash, verified.checkpoint.rootHash, hashes);
  }
  if (options.lastSeen === void 0) await saveCheckpoint(roomId, key, note, verified.checkpoint, memory);
  return Object.freeze({
    roomId,
    entries: events.map(describeEvent),
    events,
    checkpoint: verified.checkpoint,
    note,
    size: verified.checkpoint.size,
    rootHash: toHex(verified.checkpoint.rootHash),
    previous,
    previousSize: previous?.size ?? null
  });
}
async function verifyEntryIncluded(roomId, source, log, index) {
  const size = log.checkpoint.size;
  const body = await asFetcher(source).json(`/v1/rooms/${roomId}/audit-log/proof/inclusion?index=${index}&size=${size}`);
  if (!isObject(body) || !Array.isArray(body["proof"]) || !body["proof"].every((p) => typeof p === "string")) {
    throw new VerificationError("the server sent a malformed inclusion proof");
  }
  const event = log.events[index];
  if (event === void 0) throw new VerificationError("inclusion proof: leaf index outside the tree");
  const hashes = body["proof"].map((p) => strictBase64(p, "a proof element"));
  await verifyInclusion(index, size, await eventLeafHash(event), hashes, log.checkpoint.rootHash);
}
var EXPORT_FORMAT = "sealroom/audit-export/v2";
async function exportAuditLog(roomId, source, core, options = {}) {
  const memory = options.memory ?? defaultMemory();
  const log = await verifyAuditLog(roomId, source, core, { memory });
  const room = await verifyRoom(roomId, source, core, memory);
  return buildAuditExport(log, room, core.verifyKey);
}
function buildAuditExport(log, room, verifyKey) {
  if (room.roomId !== log.roomId) throw new Error("the room and the log are of different rooms");
  const integrated = log.events.filter((e) => e.action === "COMMIT_INTEGRATED").length;
  if (room.commits.length < integrated) {
    throw new VerificationError(
      `room ${log.roomId}: the log integrates ${integrated} commit(s), but only ${room.commits.length} were served (the room's history was cut)`
    );
  }
  const body = {
    checkpoint: log.note,
    commits: room.commits.slice(0, integrated).map((c) => c.text),
    core_public_key: toHex(verifyKey),
    definition: room.definitionText,
    entries: log.events.map(eventToWire),
    format: EXPORT_FORMAT,
    room_id: log.roomId
  };
  return concat(canonicalJson(body), utf8("\n"));
}

// src/results.ts
var RESULT_SIGNATURE_HEADER = "Sealroom-Result-Signature";
var RESULT_FORMAT_HEADER = "Sealroom-Result-Format";
var DEFAULT_FORMATS = /* @__PURE__ */ new Set(["csv", "zip"]);
function releasedFormat(requested, header2) {
  if (requested) return requested;
  return header2 !== void 0 && DEFAULT_FORMATS.has(header2) ? header2 : null;
}
async function openResult(result) {
  const format = releasedFormat(result.format, result.formatHeader);
  if (format === null) throw new VerificationError(`job ${result.jobId}: the server did not say the result's format`);
  let signature;
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
      parameters: { ...result.parameters ?? {} },
      recipientPublicKey: toHex(result.recipient.publicKeyRaw),
      format
    },
    result.sealed
  );
  await verifyResultRelease(release, signature, result.core.verifyKey);
  return openSealed(result.recipient, result.sealed, resultContext(result.roomId, result.jobId, format));
}
async function fetchSealedResult(fetcher, jobId, recipientPublicKey, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (options.proof) headers["Sealroom-Proof"] = options.proof;
  const query = options.waitSeconds ? `?wait=${options.waitSeconds}` : "";
  const response = await fetcher.request(`/v1/jobs/${jobId}/result${query}`, {
    method: "POST",
    headers,
    body: JSON.stringify({ recipient_public_key: toHex(recipientPublicKey), format: options.format ?? null })
  });
  return {
    sealed: new Uint8Array(await response.arrayBuffer()),
    signatureHex: response.headers.get(RESULT_SIGNATURE_HEADER) ?? "",
    formatHeader: response.headers.get(RESULT_FORMAT_HEADER) ?? ""
  };
}
function parseCsv(text) {
  const records = [];
  let record = [];
  let field = "";
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
    const blank = record.length === 0 && field === "" && !fieldStarted;
    endField();
    if (!blank) records.push(record);
    record = [];
  };
  while (i < n) {
    const c = text[i];
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
        if (next !== void 0 && next !== "," && next !== "\n" && next !== "\r") {
          throw new Error(`CSV record ${records.length + 1}: characters after a closing quote`);
        }
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && fieldStarted) {
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
  if (fieldStarted || field !== "" || record.length > 0) endRecord();
  if (records.length === 0) return { columns: [], rows: [] };
  const [columns, ...rows] = records;
  rows.forEach((row, index) => {
    if (row.length !== columns.length) {
      throw new Error(`CSV record ${index + 2}: ${row.length} fields, the header has ${columns.length}`);
    }
  });
  return { columns, rows };
}

// src/selftest/verify.ts
var hexes = (items) => items.map(fromHex);
async function verifyKnownAnswers(vectors) {
  const mismatches = [];
  const note = (where, message) => mismatches.push(`${where}: ${message}`);
  async function expect(where, c, check) {
    try {
      const value = await check();
      if (!c["valid"]) note(where, `accepted, expected a refusal (${c["error"] ?? ""})`);
      return value;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (c["valid"]) note(where, `refused: ${message}`);
      else if (c["error"] && !message.includes(c["error"])) {
        note(where, `refused for another reason: ${message} (expected "${c["error"]}")`);
      }
      return void 0;
    }
  }
  const merkle = vectors["merkle"];
  const data = hexes(merkle["leaf_data"]);
  const leaves = await Promise.all(data.map(leafHash));
  if (leaves.map(toHex).join() !== merkle["leaf_hashes"].join()) note("merkle", "leaf hashes differ");
  const pair = merkle["node_hash"];
  if (toHex(await nodeHash(fromHex(pair.left), fromHex(pair.right))) !== pair.hash) note("merkle", "node hash differs");
  const tree = new MerkleTree();
  for (const leaf of leaves) await tree.append(leaf);
  for (let n = 0; n <= leaves.length; n++) {
    if (toHex(await tree.root(n)) !== merkle["roots"][n]) note("merkle", `root of ${n} leaves differs`);
  }
  for (const [i, c] of merkle["inclusion"].entries()) {
    await expect(
      `inclusion ${i} (${c["desc"]})`,
      c,
      () => verifyInclusion(c["index"], c["size"], fromHex(c["leaf"]), hexes(c["proof"]), fromHex(c["root"]))
    );
    if (c["valid"] && c["desc"] === "generated") {
      const proof = await tree.inclusionProof(c["index"], c["size"]);
      if (proof.map(toHex).join() !== c["proof"].join()) note(`inclusion ${i}`, "generated proof differs");
    }
  }
  for (const [i, c] of merkle["consistency"].entries()) {
    await expect(
      `consistency ${i} (${c["desc"]})`,
      c,
      () => verifyConsistency(c["first"], c["second"], fromHex(c["first_root"]), fromHex(c["second_root"]), hexes(c["proof"]))
    );
    if (c["valid"] && c["desc"] === "generated") {
      const proof = await tree.consistencyProof(c["first"], c["second"]);
      if (proof.map(toHex).join() !== c["proof"].join()) note(`consistency ${i}`, "generated proof differs");
    }
  }
  for (const [i, c] of vectors["checkpoint"]["cases"].entries()) {
    const opened = await expect(
      `checkpoint ${i} (${c["desc"]})`,
      c,
      () => openCheckpoint(c["note"], c["origin"], fromHex(c["public_key"]))
    );
    if (opened && (opened.size !== c["size"] || toHex(opened.rootHash) !== c["root"])) {
      note(`checkpoint ${i}`, "size or root differs");
    }
  }
  const attestation = vectors["attestation"];
  for (const [i, c] of attestation["cases"].entries()) {
    const verified = await expect(
      `attestation ${i} (${c["desc"]})`,
      c,
      async () => verifyAttestation(c["document"], parseSpecifications(c["specs"]), {
        nonce: fromHex(c["nonce"]),
        nowMs: c["now_ms"]
      })
    );
    if (verified && (!verified.simulated || toHex(verified.kemPublicKey) !== attestation["kem_public_key"] || toHex(verified.verifyKey) !== attestation["verify_key"])) {
      note(`attestation ${i}`, "verified keys or simulated flag differ");
    }
  }
  const room = vectors["room"];
  const coreKey = fromHex(attestation["verify_key"]);
  for (const [i, c] of room["definition_cases"].entries()) {
    await expect(
      `definition ${i} (${c["desc"]})`,
      c,
      () => verifyDefinition(room["room_id"], c["definition"], c["signature"], coreKey)
    );
  }
  for (const [i, c] of room["history_cases"].entries()) {
    const history = await expect(
      `history ${i} (${c["desc"]})`,
      c,
      () => verifyHistory(room["room_id"], c["commits"], coreKey)
    );
    if (history) {
      const ids = history.commits.map((x) => x.commitId).join();
      const expected = room["commits"].slice(0, history.commits.length).map((x) => x["commit_id"]).join();
      if (ids !== expected || history.pins.join() !== room["pins"].slice(0, history.pins.length).join()) {
        note(`history ${i}`, "commit ids or pins differ");
      }
    }
  }
  for (const [i, c] of room["state_cases"].entries()) {
    const state = await expect(
      `state ${i} (${c["desc"]})`,
      c,
      () => verifyRoomState(room["room_id"], c["state"], c["signature"], coreKey, c["min_version"])
    );
    if (state && state.version !== c["version"]) note(`state ${i}`, "version differs");
  }
  const audit = vectors["audit"];
  const events = eventsFromWire(audit["entries"]);
  const hashes = await Promise.all(events.map(eventLeafHash));
  if (hashes.map(toHex).join() !== audit["leaf_hashes"].join()) note("audit", "leaf hashes differ");
  if (formatLines(events) !== audit["lines"]) note("audit", "the line format differs");
  for (const [i, c] of audit["cases"].entries()) {
    await expect(`audit ${i} (${c["desc"]})`, c, async () => {
      const origin = roomOrigin(audit["room_id"]);
      const previous = c["previous"] ? await openCheckpoint(c["previous"], origin, coreKey) : null;
      return verifyLog(audit["room_id"], eventsFromWire(c["entries"]), c["note"], coreKey, previous);
    });
  }
  try {
    const log = await verifyLog(audit["room_id"], events, audit["note"], coreKey);
    const verifiedRoom = {
      roomId: room["room_id"],
      definitionText: room["definition"],
      commits: (await verifyHistory(room["room_id"], room["history_cases"][0]["commits"], coreKey)).commits
    };
    const exported = buildAuditExport(
      { ...log, entries: [], size: log.checkpoint.size, rootHash: "", previous: null, previousSize: null },
      verifiedRoom,
      coreKey
    );
    if (fromUtf8(exported) !== audit["export"]) note("audit export", "differs from the Python export");
  } catch (error) {
    note("audit export", `failed: ${error.message}`);
  }
  const releases = vectors["result_release"];
  const recipient = await recipientFromPrivateBytes(fromHex(releases["recipient_private_key"]));
  if (toHex(recipient.publicKeyRaw) !== releases["recipient_public_key"]) note("result", "recipient key differs");
  for (const [i, c] of releases["cases"].entries()) {
    const plaintext = await expect(
      `result ${i} (${c["desc"]})`,
      c,
      () => openResult({
        core: { verifyKey: fromHex(releases["verify_key"]), kemPublicKey: new Uint8Array(32) },
        roomId: c["room_id"],
        node: c["node"],
        jobId: c["job_id"],
        parameters: c["parameters"],
        recipient,
        format: c["format"],
        formatHeader: c["format_header"],
        sealed: fromHex(c["sealed"]),
        signatureHex: c["signature"]
      })
    );
    if (plaintext && toHex(plaintext) !== releases["plaintext"]) note(`result ${i}`, "plaintext differs");
  }
  for (const [i, c] of vectors["csv"].entries()) {
    try {
      const table = parseCsv(c["text"]);
      if (c["error"]) note(`csv ${i}`, "parsed, expected an error");
      else if (JSON.stringify([table.columns, table.rows]) !== JSON.stringify([c["columns"], c["rows"]])) {
        note(`csv ${i}`, `parsed as ${JSON.stringify(table)}`);
      }
    } catch (error) {
      if (!c["error"]) note(`csv ${i}`, `refused: ${error.message}`);
    }
  }
  return mismatches;
}
function bearer(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}
async function attested(specs, token, nonceHex) {
  const parsed = parseSpecifications(specs);
  return attest(makeFetcher(bearer(token)), parsed, nonceHex ? { nonce: fromHex(nonceHex) } : {});
}
async function attestLive(specs, nonceHex, token) {
  const verified = await attested(specs, token, nonceHex);
  return {
    simulated: verified.simulated,
    provider: verified.provider,
    measurement: verified.measurement,
    coreVersion: verified.coreVersion,
    kemPublicKey: toHex(verified.kemPublicKey),
    verifyKey: toHex(verified.verifyKey),
    nonce: verified.document.nonce,
    warning: verified.warning
  };
}
async function verifyAuditLive(roomId, token, specs) {
  const core = await attested(specs, token);
  const fetcher = makeFetcher(bearer(token));
  const log = await verifyAuditLog(roomId, fetcher, core);
  if (log.size > 0) await verifyEntryIncluded(roomId, fetcher, log, log.size - 1);
  return {
    size: log.size,
    rootHash: log.rootHash,
    previousSize: log.previousSize,
    actions: log.entries.map((e) => e.action),
    entries: log.entries.map((e) => ({ seq: e.seq, user: e.user, label: e.label, description: e.description })),
    lines: formatLines(log.events)
  };
}
async function exportAuditLive(roomId, token, specs) {
  const core = await attested(specs, token);
  return fromUtf8(await exportAuditLog(roomId, makeFetcher(bearer(token)), core));
}
async function verifyRoomLive(roomId, token, specs) {
  const core = await attested(specs, token);
  const room = await verifyRoom(roomId, makeFetcher(bearer(token)), core);
  return {
    roomId: room.roomId,
    definitionSha256: await sha256Hex(utf8(room.definitionText)),
    name: room.definition["name"],
    commits: room.commits.length,
    historyPin: room.historyPin,
    status: room.status,
    version: room.state.version,
    datasets: room.state.datasets
  };
}
var recipients2 = /* @__PURE__ */ new Map();
async function newRecipientLive() {
  const recipient = await generateRecipient();
  const publicKey = toHex(recipient.publicKeyRaw);
  recipients2.set(publicKey, recipient);
  return { handle: publicKey, publicKey };
}
async function openResultLive(options) {
  const recipient = recipients2.get(options.handle);
  if (recipient === void 0) throw new Error("no recipient key of that handle in this page");
  const core = await attested(options.specs, options.token);
  const fetcher = makeFetcher(bearer(options.token));
  const sealed = await fetchSealedResult(fetcher, options.jobId, recipient.publicKeyRaw, {
    format: options.format ?? null,
    proof: options.proof
  });
  const plaintext = await openResult({
    core,
    roomId: options.roomId,
    node: options.node,
    jobId: options.jobId,
    parameters: options.parameters ?? {},
    recipient,
    format: options.format ?? null,
    formatHeader: sealed.formatHeader,
    sealed: sealed.sealed,
    signatureHex: sealed.signatureHex
  });
  const text = fromUtf8(plaintext);
  const table = parseCsv(text);
  return { text, columns: table.columns, rows: table.rows, format: sealed.formatHeader };
}

// src/csvprep.ts
var SAMPLE_BYTES = 64 * 1024;
var DELIMITERS = [",", ";", "	", "|"];
var SAMPLE_RECORDS = 50;
function normaliseName(name) {
  return name.trim().toLowerCase().replace(/[\s_-]+/g, "");
}
function sampleRecords(text, delimiter, limit) {
  const parser = new CsvParser(delimiter);
  const records = parser.push(text);
  return records.slice(0, limit);
}
function inspectCsv(sample, columns) {
  const text = sample.startsWith("\uFEFF") ? sample.slice(1) : sample;
  const delimiter = detectDelimiter(text);
  const records = sampleRecords(text, delimiter, SAMPLE_RECORDS + 1);
  const problems = [];
  const first = records[0] ?? [];
  const wanted = columns.map(normaliseName);
  const matches = first.filter((field) => wanted.includes(normaliseName(field))).length;
  const isHeader = first.length > 0 && matches * 2 >= first.length && matches > 0;
  let order = columns.map((_, index) => index);
  if (isHeader) {
    const names = first.map(normaliseName);
    order = [];
    for (const [index, column] of columns.entries()) {
      const found = names.indexOf(wanted[index]);
      if (found < 0) {
        problems.push(`the file has no column ${JSON.stringify(column)}${closest(column, first)}`);
      } else if (names.indexOf(wanted[index], found + 1) >= 0) {
        problems.push(`the file has the column ${JSON.stringify(column)} more than once`);
      }
      order.push(found);
    }
    for (const field of first) {
      if (!wanted.includes(normaliseName(field))) {
        problems.push(
          `the file's column ${JSON.stringify(field)} is not a column of this table${closest(field, [...columns])}`
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
      `line ${row} of the file has ${body[bad].length} fields, the table has ${width} columns`
    );
  }
  const identity = order.every((value, index) => value === index);
  return {
    delimiter,
    header: isHeader ? first : null,
    order,
    asIs: !isHeader && delimiter === "," && identity && !sample.startsWith("\uFEFF"),
    problems,
    preview: body.slice(0, 5).map((record) => order.map((index) => record[index] ?? ""))
  };
}
function detectDelimiter(text) {
  for (const delimiter of DELIMITERS) {
    const records = sampleRecords(text, delimiter, SAMPLE_RECORDS).filter((r) => r.length > 0);
    const widths = new Set(records.map((record) => record.length));
    if (records.length > 0 && widths.size === 1 && records[0].length > 1) return delimiter;
  }
  return ",";
}
function closest(name, candidates) {
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
function editDistance(a, b) {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)
      );
    }
    previous = current;
  }
  return previous[b.length];
}
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
    const clean2 = !this.quoted && !this.afterQuote && !this.pendingCr && this.field === "" && this.record.length === 0;
    if (clean2 && !text.includes('"') && !(text.includes("\r") && /\r(?!\n)/.test(text))) {
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

// src/selftest/csv.ts
function csvRecords(text, delimiter, cuts) {
  const parser = new CsvParser(delimiter);
  const records = [];
  let start = 0;
  for (const cut of [...cuts, text.length]) {
    records.push(...parser.push(text.slice(start, cut)));
    start = cut;
  }
  records.push(...parser.finish());
  return records;
}
function csvInspect(sample, columns) {
  return inspectCsv(sample, columns);
}
function csvReshape(text, columns, cuts) {
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

// src/render.ts
var DATA_KINDS = /* @__PURE__ */ new Set(["table", "raw"]);
function dependenciesOf(node) {
  const deps = node["dependencies"];
  if (Array.isArray(deps)) return deps.map(String);
  const single = node["dependency"] ?? node["source"];
  return typeof single === "string" ? [single] : [];
}

// src/requests.ts
function sameEmail(a, b) {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}
function nodeNamed(definition, name) {
  return definition.nodes.find((node) => node.name.toLowerCase() === name.toLowerCase());
}
function withCommit(definition, commit) {
  const applied = structuredClone(definition);
  applied.identities ??= [];
  applied.nodes.push(...structuredClone(commit.nodes));
  for (const withdrawal of commit.withdrawals ?? []) {
    const index = applied.participants.findIndex((p2) => sameEmail(p2.email, withdrawal.email));
    if (index < 0) continue;
    const p = applied.participants[index];
    p.analyst_of = p.analyst_of.filter((n) => !(withdrawal.analyst_of ?? []).includes(n));
    p.data_owner_of = p.data_owner_of.filter((n) => !(withdrawal.data_owner_of ?? []).includes(n));
    if (p.analyst_of.length || p.data_owner_of.length || (p.permissions ?? []).length) continue;
    applied.participants.splice(index, 1);
    if (!sameEmail(withdrawal.email, applied.owner)) {
      applied.identities = applied.identities.filter((i) => !sameEmail(i.email, withdrawal.email));
    }
  }
  const grant = (email, roles, names, key, root) => {
    const participant = applied.participants.find((p) => sameEmail(p.email, email));
    if (participant) {
      for (const name of names) if (!participant[roles].includes(name)) participant[roles].push(name);
      return;
    }
    applied.participants.push({ email, data_owner_of: [], analyst_of: [], permissions: [], [roles]: [...names] });
    if (key != null || root != null) applied.identities.push({ email, key: key ?? null, root: root ?? null });
  };
  for (const g of commit.analysts) grant(g.email, "analyst_of", g.analyst_of, g.key, g.root);
  for (const g of commit.owners ?? []) grant(g.email, "data_owner_of", g.data_owner_of, g.key, g.root);
  return applied;
}
function affectedDataNodes(applied, commit) {
  const granted = commit.nodes.map((node) => node.name);
  for (const grant of commit.analysts) for (const name of grant.analyst_of) if (!granted.includes(name)) granted.push(name);
  const withdrawn = [];
  for (const w of commit.withdrawals ?? []) for (const name of w.analyst_of ?? []) if (!withdrawn.includes(name)) withdrawn.push(name);
  granted.push(...withdrawn);
  const affected = [];
  for (const name of granted) {
    const plan = [];
    const seen = /* @__PURE__ */ new Set();
    const visit = (target) => {
      if (seen.has(target.toLowerCase())) return;
      seen.add(target.toLowerCase());
      const node = nodeNamed(applied, target);
      if (!node || DATA_KINDS.has(node.kind)) return;
      for (const dependency of dependenciesOf(node)) visit(dependency);
      plan.push(node);
    };
    visit(name);
    for (const compute of plan) {
      for (const dependency of dependenciesOf(compute)) {
        const data = nodeNamed(applied, dependency);
        if (data && DATA_KINDS.has(data.kind) && !affected.includes(data.name)) affected.push(data.name);
      }
    }
  }
  return affected;
}
function approverGroups(applied, commit) {
  if (commit.identities.length) {
    throw new VerificationError("this request changes how the room recognises a participant: review it with the SDK or the CLI");
  }
  const emails = applied.participants.map((p) => p.email);
  if (!emails.some((email) => sameEmail(email, applied.owner))) emails.unshift(applied.owner);
  const names = affectedDataNodes(applied, commit);
  const changes = [...commit.owners ?? [], ...commit.withdrawals ?? []];
  for (const change of changes) {
    for (const changed3 of change.data_owner_of ?? []) {
      const node = nodeNamed(applied, changed3);
      if (node && !names.includes(node.name)) names.push(node.name);
    }
  }
  const groups = [];
  for (const name of names) {
    const isNew = (email) => (commit.owners ?? []).some((g) => sameEmail(g.email, email) && g.data_owner_of.includes(name));
    const approvers = emails.filter((email) => {
      const p = applied.participants.find((q) => sameEmail(q.email, email));
      if (!p || isNew(email)) return false;
      const grants = p.permissions ?? [];
      return p.data_owner_of.includes(name) || grants.some((g) => g.kind === "leaf_crud" && g.node === name);
    });
    if (approvers.length) groups.push({ node: name, approvers });
  }
  return groups;
}

// src/media.ts
var isString = (v, p) => {
  if (typeof v !== "string") throw new Error(`${p} is not text`);
};
var isBool = (v, p) => {
  if (typeof v !== "boolean") throw new Error(`${p} is not true or false`);
};
var isCount = (v, p) => {
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${p} is not a count`);
};
var isNumberOrNull = (v, p) => {
  if (v !== null && typeof v !== "number") throw new Error(`${p} is not a number`);
};
var listOf = (check) => (v, p) => {
  if (!Array.isArray(v)) throw new Error(`${p} is not a list`);
  v.forEach((item, i) => check(item, `${p}[${i}]`));
};
var shape = (fields) => (v, p) => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`${p} is not an object`);
  for (const [name, check] of Object.entries(fields)) check(v[name], `${p}.${name}`);
};
var IDENTIFIER = shape({ idName: isString, idType: isString, isMatchingId: isBool, isActivationId: isBool });
var MEDIA_SHAPE = shape({
  name: isString,
  collaborationTypes: listOf(isString),
  hideAbsoluteValuesFromInsights: isBool,
  matchingIdType: isString,
  participantGroups: listOf(shape({ id: isString, role: isString, emails: listOf(isString), permissions: listOf(isString) })),
  showMatchRate: isBool,
  baseAudience: shape({
    identifiersConfig: listOf(IDENTIFIER),
    requireSegments: isBool,
    requireDemographics: isBool,
    numEmbeddings: isCount
  }),
  privacy: shape({ mode: isString, minimumAudienceSize: isCount, epsilonBudget: isNumberOrNull, epsilonPerRun: isNumberOrNull }),
  minimumGroupSize: isCount
});
var DATA_LAB_SHAPE = shape({
  name: isString,
  requireDemographics: isBool,
  requireEmbeddings: isBool,
  numEmbeddings: isCount,
  requireSegments: isBool,
  identifiersConfig: listOf(IDENTIFIER),
  collaborationTypes: listOf(isString),
  dropInvalidRows: isBool,
  minimumGroupSize: isCount
});
var NUMBER_FORMAT = new Intl.NumberFormat("en-US");
function compare(a, b) {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const x = a.codePointAt(i);
    const y = b.codePointAt(i);
    if (x !== y) return x < y ? -1 : 1;
    if (x > 65535) i++;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}
function customAudienceOf(row) {
  const [id = "", name = "", createdBy = "", createdAt = "", sharedWith = "", definition = "", group = ""] = row;
  const shared = JSON.parse(sharedWith || "[]");
  const parsed = JSON.parse(definition);
  if (!Array.isArray(shared) || typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`audience ${id}: its definition is not readable`);
  }
  return { id, name, createdBy, createdAt, sharedWith: shared.map(String), definition: parsed, createdByGroup: group };
}
function customAudienceRow(audience) {
  return [
    audience.id,
    audience.name,
    audience.createdBy,
    audience.createdAt,
    pythonJson(audience.sharedWith, false),
    compactJson(audience.definition),
    audience.createdByGroup
  ];
}
function dependsOn(definition) {
  const found = [];
  const walk = (value) => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (typeof value === "object" && value !== null) {
      const record = value;
      if (record["kind"] === "CUSTOM" && "id" in record) found.push(String(record["id"]));
      Object.values(record).forEach(walk);
    }
  };
  walk(definition);
  return found;
}
var RULE_ATTRIBUTES = ["segment", "age", "gender"];
var FILTER_OPERATORS = ["CONTAINS_ANY_OF", "CONTAINS_NONE_OF", "CONTAINS_ALL_OF", "EMPTY", "NOT_EMPTY"];
var COMBINE_OPERATORS = ["INTERSECT", "UNION", "DIFF"];
function filterJson(filter) {
  if (!RULE_ATTRIBUTES.includes(filter.attribute)) {
    throw new Error(`filter attribute '${filter.attribute}': use one of ${RULE_ATTRIBUTES.join(", ")}`);
  }
  if (!FILTER_OPERATORS.includes(filter.operator)) throw new Error(`filter operator '${filter.operator}': use one of ${FILTER_OPERATORS.join(", ")}`);
  const needsValues = filter.operator !== "EMPTY" && filter.operator !== "NOT_EMPTY";
  if (needsValues && filter.values.length === 0) throw new Error(`filter ${filter.operator} on ${filter.attribute} needs values`);
  const out = { attribute: filter.attribute, operator: filter.operator };
  if (needsValues) out["values"] = filter.values.map(String);
  return out;
}
function filtersJson(filters) {
  if (filters.booleanOp !== "AND" && filters.booleanOp !== "OR") throw new Error("filters are joined by AND or OR");
  return { booleanOp: filters.booleanOp, filters: filters.filters.map(filterJson) };
}
function ruleBasedDefinition(input) {
  const definition = { kind: "RULE_BASED", sourceRef: { ...input.source } };
  if (input.filters !== null) definition["filters"] = filtersJson(input.filters);
  if (input.combine.length) {
    definition["combine"] = input.combine.map((step) => {
      if (!COMBINE_OPERATORS.includes(step.operator)) throw new Error(`a combination is ${COMBINE_OPERATORS.join(", ")}`);
      const out = { operator: step.operator, sourceRef: { ...step.source } };
      if (step.filters !== null) out["filters"] = filtersJson(step.filters);
      return out;
    });
  }
  return definition;
}
var AudienceChangeError = class extends Error {
  constructor(code, audience, message) {
    super(message);
    this.code = code;
    this.audience = audience;
    this.name = "AudienceChangeError";
  }
  code;
  audience;
};
function afterSharing(current, ids, participants, groupId) {
  return current.map((audience) => {
    if (!ids.includes(audience.id)) return audience;
    if (audience.createdByGroup !== groupId) {
      throw new AudienceChangeError("permission_denied", audience.name, `audience “${audience.name}” was created by another group`);
    }
    return { ...audience, sharedWith: [.../* @__PURE__ */ new Set([...audience.sharedWith, ...participants])] };
  });
}
function afterDeleting(current, ids, withDependents, groupId) {
  const doomed = new Set(ids);
  for (const audience of current) {
    if (doomed.has(audience.id) && audience.createdByGroup !== groupId) {
      throw new AudienceChangeError("permission_denied", audience.name, `audience “${audience.name}” was created by another group`);
    }
  }
  let changed3 = true;
  while (changed3) {
    changed3 = false;
    for (const audience of current) {
      if (doomed.has(audience.id) || !dependsOn(audience.definition).some((id) => doomed.has(id))) continue;
      if (!withDependents) {
        throw new AudienceChangeError(
          "has_dependents",
          audience.name,
          `audience “${audience.name}” depends on one you delete: delete it too (with the audiences that depend on it), or keep both`
        );
      }
      if (audience.createdByGroup !== groupId) {
        throw new AudienceChangeError(
          "has_dependents",
          audience.name,
          `audience “${audience.name}” of another group depends on one you delete: they must delete it first`
        );
      }
      doomed.add(audience.id);
      changed3 = true;
    }
  }
  return current.filter((audience) => !doomed.has(audience.id));
}
function pythonJson(value, sortKeys = true) {
  return encodeJson(value, sortKeys, ", ", ": ", true);
}
function compactJson(value) {
  return encodeJson(value, true, ",", ":", true);
}
function encodeJson(value, sortKeys, item, key, ascii) {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error("only whole numbers are written in an audience");
    return String(value);
  }
  if (typeof value === "string") {
    const text = JSON.stringify(value);
    return ascii ? text.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) : text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => encodeJson(v, sortKeys, item, key, ascii)).join(item)}]`;
  if (typeof value === "object") {
    const record = value;
    const keys = Object.keys(record);
    if (sortKeys) keys.sort(compare);
    return `{${keys.map((k) => `${encodeJson(k, sortKeys, item, key, ascii)}${key}${encodeJson(record[k], sortKeys, item, key, ascii)}`).join(item)}}`;
  }
  throw new Error("not a JSON value");
}

// src/media-members.ts
var MEMBER_NOTE = "sealroom.media v1 member ";
var ALL = ["VIEW_OVERLAP", "VIEW_INSIGHTS", "PROVIDE_SEED_AUDIENCE", "PROVIDE_BASE_AUDIENCE", "CREATE_CUSTOM_AUDIENCE", "EXPORT_AUDIENCE", "MODEL_QUALITY", "MANAGE_USERS"];
var TABLE_OWNERS = {
  matching: ["PROVIDE_BASE_AUDIENCE"],
  segments: ["PROVIDE_BASE_AUDIENCE"],
  demographics: ["PROVIDE_BASE_AUDIENCE"],
  embeddings: ["PROVIDE_BASE_AUDIENCE"],
  audiences: ["PROVIDE_SEED_AUDIENCE"],
  custom_audiences: ["CREATE_CUSTOM_AUDIENCE"]
};
var ANALYSTS = {
  overlap_statistics: ["VIEW_OVERLAP"],
  insights: ["VIEW_INSIGHTS"],
  data_attributes: ["VIEW_INSIGHTS", "CREATE_CUSTOM_AUDIENCE"],
  seed_audience_list: ALL,
  custom_audience_list: ALL,
  audience_size: ["CREATE_CUSTOM_AUDIENCE", "EXPORT_AUDIENCE"],
  audience_user_list: ["EXPORT_AUDIENCE"],
  lookalike_statistics: ["MODEL_QUALITY", "CREATE_CUSTOM_AUDIENCE"]
};
function noteOf(change) {
  return MEMBER_NOTE + compactJson({ group: change.group, email: change.email, permissions: change.permissions });
}
function changeOf(note) {
  if (!note.startsWith(MEMBER_NOTE)) return null;
  try {
    const data = JSON.parse(note.slice(MEMBER_NOTE.length));
    const permissions = data["permissions"];
    if (typeof data["group"] !== "string" || typeof data["email"] !== "string" || !Array.isArray(permissions)) return null;
    if (!permissions.every((p) => typeof p === "string" && ALL.includes(p))) return null;
    return { group: data["group"], email: data["email"], permissions };
  } catch {
    return null;
  }
}
function memberRoles(definition, permissions) {
  const has = (needed) => (needed ?? []).some((p) => permissions.includes(p));
  const owns = [];
  const runs = [];
  for (const node of definition.nodes) {
    if (node.kind === "table" || node.kind === "raw") {
      if (has(TABLE_OWNERS[node.name])) owns.push(node.name);
    } else if (has(ANALYSTS[node.name])) {
      runs.push(node.name);
    }
  }
  return { owns, runs };
}
function permissionsOf(group, email) {
  for (const [member, permissions] of Object.entries(group.memberPermissions ?? {})) {
    if (sameEmail(member, email)) return permissions;
  }
  return group.permissions;
}
function mayManage(groups, requester, groupId) {
  const group = groups.find((g) => g.id === groupId);
  return !!group && group.emails.some((e) => sameEmail(e, requester)) && permissionsOf(group, requester).includes("MANAGE_USERS");
}
var sameSet = (a, b) => {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((x) => right.has(x));
};
function fits(change, before, commit) {
  if (commit.nodes.length || commit.identities.length) return false;
  const owners = commit.owners ?? [];
  const withdrawals = commit.withdrawals ?? [];
  if (!change.permissions.length) {
    const held = before.participants.find((p) => sameEmail(p.email, change.email));
    if (!held || commit.analysts.length || owners.length || withdrawals.length !== 1) return false;
    const w = withdrawals[0];
    return sameEmail(w.email, change.email) && sameSet(w.analyst_of ?? [], held.analyst_of) && sameSet(w.data_owner_of ?? [], held.data_owner_of) && !(held.permissions ?? []).length;
  }
  const isParticipant = sameEmail(before.owner, change.email) || before.participants.some((p) => sameEmail(p.email, change.email));
  if (withdrawals.length || isParticipant) return false;
  const { owns, runs } = memberRoles(before, change.permissions);
  const one = (grants, names) => names.length ? grants.length === 1 && sameEmail(grants[0].email, change.email) && sameSet(grants[0].names, names) : grants.length === 0;
  return one(commit.analysts.map((g) => ({ email: g.email, names: g.analyst_of })), runs) && one(owners.map((g) => ({ email: g.email, names: g.data_owner_of })), owns);
}
function currentGroups(config, published, commits) {
  let groups = config.participantGroups.map((g) => structuredClone(g));
  let definition = published;
  for (const commit of commits) {
    const change = changeOf(commit.note);
    if (change && mayManage(groups, commit.requester, change.group) && fits(change, definition, commit)) {
      groups = groups.map((g) => g.id === change.group ? changed2(g, change) : g);
    }
    definition = withCommit(definition, commit);
  }
  return groups;
}
function changed2(group, change) {
  const emails = group.emails.filter((e) => !sameEmail(e, change.email));
  const members = {};
  for (const [e, p] of Object.entries(group.memberPermissions ?? {})) if (!sameEmail(e, change.email)) members[e] = p;
  if (change.permissions.length) {
    emails.push(change.email);
    if (!sameSet(change.permissions, group.permissions)) members[change.email] = change.permissions;
  }
  const { memberPermissions: _, ...rest } = group;
  return Object.keys(members).length ? { ...rest, emails, memberPermissions: members } : { ...rest, emails };
}

// src/selftest/media.ts
function mediaKnownAnswers(vectors) {
  const bad = [];
  const compareRows = (what, got, want) => {
    if (got.length !== want.length) bad.push(`${what}: ${got.length} columns, want ${want.length}`);
    want.forEach((cell, i) => {
      if (got[i] !== cell) bad.push(`${what}[${i}]: got ${JSON.stringify(got[i])}, want ${JSON.stringify(cell)}`);
    });
  };
  for (const v of vectors.custom_audience_rows) {
    const a = v.audience;
    const audience = {
      id: a.id,
      name: a.name,
      createdBy: a.created_by,
      createdAt: a.created_at,
      sharedWith: a.shared_with,
      definition: a.definition,
      createdByGroup: a.created_by_group
    };
    try {
      compareRows(`custom_audience_rows[${v.case}] row`, customAudienceRow(audience), v.row);
      compareRows(`custom_audience_rows[${v.case}] read back`, customAudienceRow(customAudienceOf(v.row)), v.row);
    } catch (error) {
      bad.push(`custom_audience_rows[${v.case}]: threw ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return bad;
}
var audienceOf = (a) => ({
  id: a.id,
  name: a.name,
  createdBy: a.created_by,
  createdAt: a.created_at,
  sharedWith: a.shared_with,
  definition: a.definition,
  createdByGroup: a.created_by_group
});
function mediaAudienceKnownAnswers(vectors) {
  const bad = [];
  for (const v of vectors.rule_based_definitions) {
    let got;
    try {
      got = compactJson(ruleBasedDefinition(v.input));
    } catch {
      got = null;
    }
    const want = v.definition === null ? null : compactJson(v.definition);
    if (got !== want) bad.push(`rule_based_definitions[${v.case}]: got ${got ?? "a refusal"}, want ${want ?? "a refusal"}`);
  }
  for (const v of vectors.audience_changes) {
    const table = v.audiences.map(audienceOf);
    let got;
    try {
      const after = v.action === "share" ? afterSharing(table, v.ids, v.participants ?? [], v.group) : afterDeleting(table, v.ids, v.with_dependents ?? false, v.group);
      got = JSON.stringify(after.map(customAudienceRow));
    } catch (error) {
      got = error instanceof AudienceChangeError ? JSON.stringify({ code: error.code, audience: error.audience }) : `threw ${String(error)}`;
    }
    const want = v.refused ? JSON.stringify(v.refused) : JSON.stringify((v.written ?? []).map((a) => customAudienceRow(audienceOf(a))));
    if (got !== want) bad.push(`audience_changes[${v.case}]: got ${got}, want ${want}`);
  }
  return bad;
}
function mediaMemberKnownAnswers(vectors) {
  const bad = [];
  const same = (what, got, want) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  vectors.after.forEach((step, i) => {
    try {
      same(`after ${step.case}`, currentGroups(vectors.config, vectors.published, vectors.commits.slice(0, i + 1)), step.groups);
    } catch (error) {
      bad.push(`after ${step.case}: threw ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  vectors.commits.forEach((commit, i) => {
    const change = changeOf(commit.note);
    if (change && noteOf(change) !== commit.note) bad.push(`note of commit ${i}: got ${noteOf(change)}, want ${commit.note}`);
  });
  for (const role of vectors.roles) {
    same(`roles of ${role.permissions.join(",")}`, memberRoles(vectors.published, role.permissions), { owns: role.owns, runs: role.runs });
  }
  return bad;
}

// src/selftest/commits.ts
function commitKnownAnswers(vectors) {
  const bad = [];
  const same = (what, got, want) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  for (const v of vectors.cases) {
    try {
      const applied = withCommit(vectors.definition, v.commit);
      same(
        `${v.case} participants`,
        applied.participants.map((p) => ({ email: p.email, analyst_of: p.analyst_of, data_owner_of: p.data_owner_of })),
        v.participants.map((p) => ({ email: p.email, analyst_of: p.analyst_of, data_owner_of: p.data_owner_of }))
      );
      same(`${v.case} identities`, applied.identities.map((i) => i.email), v.identities.map((i) => i.email));
      same(`${v.case} approver groups`, approverGroups(applied, v.commit), v.approver_groups);
    } catch (error) {
      bad.push(`${v.case}: threw ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return bad;
}
export {
  attestLive,
  buildCall,
  commitKnownAnswers,
  createKeyForTest,
  cryptoKnownAnswers,
  csvInspect,
  csvRecords,
  csvReshape,
  encryptForTest,
  exportAuditLive,
  mediaAudienceKnownAnswers,
  mediaKnownAnswers,
  mediaMemberKnownAnswers,
  newRecipient,
  newRecipientLive,
  openForRecipient,
  openResultLive,
  sealFor,
  signStored,
  signWithImportedPem,
  storedKeyFacts,
  uploadForTest,
  verifyAuditLive,
  verifyKnownAnswers,
  verifyRoomLive
};
