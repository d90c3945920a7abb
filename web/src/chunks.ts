// Dataset encryption in the browser, byte for byte the encrypting side of
// src/sealroom/crypto/streaming.py and the manifest of src/sealroom/crypto/manifest.py
// (format version 2, AES-256-GCM-HKDF-SHA256-STREAM):
//
//   per file:  salt = 32 random bytes, nonce_prefix = 7 random bytes
//              subkey         = HKDF-SHA256(ikm=key, salt, info="sealroom/dataset-chunk/v2", 32)
//              key_commitment = HKDF-SHA256(ikm=key, salt, info="sealroom/dataset-key-commitment/v2", 32)
//              header         = "sealroom/dataset-chunk/v2" || u32be(chunk_size) || salt
//                               || nonce_prefix || key_commitment
//   chunk i:   nonce = nonce_prefix || u32be(i) || (0x01 if last else 0x00)
//              ciphertext_i = AES-256-GCM(subkey).encrypt(nonce, plaintext_i, aad=header)
//   manifest:  canonical JSON of {version, algorithm, salt, nonce_prefix, chunk_size,
//              key_commitment, chunks: [{sha256, size}], plaintext_size}; dataset id = its SHA-256.
//
// Invariants (the same shape rules as Manifest in Python, enforced while encrypting so that no
// manifest this module returns could be refused by the server or the core):
// * chunks are encrypted strictly in order 0, 1, 2, …; every chunk but the last holds exactly
//   chunk_size bytes; the last holds 1..chunk_size bytes, or 0 only when it is chunk 0 (an empty
//   file); nothing can be encrypted after the last chunk, so a nonce is never used twice.
// * salt and nonce prefix are fresh per encryptor (crypto.getRandomValues); fixed values exist
//   only for known-answer tests (ChunkEncryptor.withFixedRandomness).
// * the subkey is a non-extractable WebCrypto key; the dataset key bytes are held only by the
//   caller, who must never send them anywhere but sealed (sealing.ts).

import { buffer, concat, sha256Hex, toHex, utf8 } from "./bytes";
import { canonicalJson } from "./canonical";

export const ALGORITHM = "AES-256-GCM-HKDF-SHA256-STREAM";
export const MANIFEST_VERSION = 2;
export const KEY_SIZE = 32;
export const SALT_SIZE = 32;
export const NONCE_PREFIX_SIZE = 7;
export const KEY_COMMITMENT_SIZE = 32;
export const TAG_SIZE = 16;
export const MIN_CHUNK_SIZE = 1;
export const MAX_CHUNK_SIZE = 64 * 1024 * 1024;
export const MAX_CHUNKS = 1_000_000;
/** The SDK's default (DEFAULT_CHUNK_SIZE in streaming.py). */
export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;

const CHUNK_DOMAIN = utf8("sealroom/dataset-chunk/v2");
const KEY_COMMITMENT_DOMAIN = utf8("sealroom/dataset-key-commitment/v2");

export interface ChunkRef {
  sha256: string;
  size: number;
}

/** The manifest as Manifest.to_dict() in Python (the field values, not the byte encoding). */
export interface Manifest {
  version: number;
  algorithm: string;
  salt: string;
  nonce_prefix: string;
  chunk_size: number;
  key_commitment: string;
  chunks: ChunkRef[];
  plaintext_size: number;
}

export interface EncryptedChunk {
  index: number;
  ciphertext: Uint8Array;
  /** Lower-case hex SHA-256 of `ciphertext`. */
  sha256: string;
}

/** A fresh 256-bit dataset key (as sealroom.crypto.keys.Key()). */
export function newDatasetKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_SIZE));
}

/** The SDK's key file text (`sealroom datasets` writes key.material.hex() and a newline). */
export function keyFileText(key: Uint8Array): string {
  checkKey(key);
  return `${toHex(key)}\n`;
}

/** The canonical manifest bytes; the dataset id is their SHA-256. */
export function manifestBytes(manifest: Manifest): Uint8Array {
  return canonicalJson({
    version: manifest.version,
    algorithm: manifest.algorithm,
    salt: manifest.salt,
    nonce_prefix: manifest.nonce_prefix,
    chunk_size: manifest.chunk_size,
    key_commitment: manifest.key_commitment,
    chunks: manifest.chunks.map((c) => ({ sha256: c.sha256, size: c.size })),
    plaintext_size: manifest.plaintext_size,
  });
}

export async function datasetIdOf(manifest: Manifest): Promise<string> {
  return sha256Hex(manifestBytes(manifest));
}

// Only withFixedRandomness holds this token, so no other caller can choose a salt or nonce prefix.
const FIXED: unique symbol = Symbol("fixed randomness for known-answer tests");
interface FixedRandomness {
  token: typeof FIXED;
  salt: Uint8Array;
  noncePrefix: Uint8Array;
}

interface State {
  subkey: CryptoKey;
  keyCommitment: Uint8Array;
  header: Uint8Array;
}

/** Encrypts one file, chunk by chunk, in order. One encryptor per file (fresh salt and nonce
 * prefix); the caller reads the file in `chunkSize` slices and says which slice is the last. */
export class ChunkEncryptor {
  readonly chunkSize: number;
  private readonly salt: Uint8Array;
  private readonly noncePrefix: Uint8Array;
  private readonly state: Promise<State>;
  private readonly refs: ChunkRef[] = [];
  private nextIndex = 0;
  private plaintextSize = 0;
  private finished = false;
  private busy = false;

  constructor(key: Uint8Array, chunkSize: number = DEFAULT_CHUNK_SIZE, fixed?: FixedRandomness) {
    this.chunkSize = checkChunkSize(chunkSize);
    checkKey(key);
    if (fixed !== undefined && fixed.token !== FIXED) throw new Error("not a test encryptor");
    this.salt = fixed?.salt.slice() ?? crypto.getRandomValues(new Uint8Array(SALT_SIZE));
    this.noncePrefix =
      fixed?.noncePrefix.slice() ?? crypto.getRandomValues(new Uint8Array(NONCE_PREFIX_SIZE));
    if (this.salt.length !== SALT_SIZE || this.noncePrefix.length !== NONCE_PREFIX_SIZE) {
      throw new Error("salt must be 32 bytes and nonce prefix 7 bytes");
    }
    this.state = setup(key, chunkSize, this.salt, this.noncePrefix);
  }

  /** Known-answer tests only (as Python's _with_fixed_randomness): fixed salts reuse nonces. */
  static withFixedRandomness(
    key: Uint8Array,
    chunkSize: number,
    salt: Uint8Array,
    noncePrefix: Uint8Array,
  ): ChunkEncryptor {
    return new ChunkEncryptor(key, chunkSize, { token: FIXED, salt, noncePrefix });
  }

  /** Encrypt chunk `index` (must be the next one). `last` marks the final chunk; after it the
   * manifest is available and nothing more can be encrypted. */
  async encryptChunk(plaintext: Uint8Array, index: number, last: boolean): Promise<EncryptedChunk> {
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
            tagLength: TAG_SIZE * 8,
          },
          state.subkey,
          buffer(plaintext),
        ),
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
  async manifest(): Promise<Manifest> {
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
      plaintext_size: this.plaintextSize,
    };
  }

  async datasetId(): Promise<string> {
    return datasetIdOf(await this.manifest());
  }
}

/** Encrypt an in-memory file (tests and small data), as encrypt_bytes in Python. */
export async function encryptBytes(
  key: Uint8Array,
  data: Uint8Array,
  chunkSize: number = DEFAULT_CHUNK_SIZE,
  encryptor: ChunkEncryptor = new ChunkEncryptor(key, chunkSize),
): Promise<{ manifest: Manifest; chunks: EncryptedChunk[] }> {
  const size = encryptor.chunkSize;
  const chunks: EncryptedChunk[] = [];
  const count = Math.max(1, Math.ceil(data.length / size));
  for (let index = 0; index < count; index++) {
    const part = data.subarray(index * size, Math.min(data.length, (index + 1) * size));
    chunks.push(await encryptor.encryptChunk(part, index, index === count - 1));
  }
  return { manifest: await encryptor.manifest(), chunks };
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_SIZE) {
    // The length is not secret; the bytes are.
    throw new Error(`a dataset key is ${KEY_SIZE} bytes`);
  }
}

function checkChunkSize(chunkSize: number): number {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new Error(`chunk_size must be between ${MIN_CHUNK_SIZE} and ${MAX_CHUNK_SIZE} bytes`);
  }
  return chunkSize;
}

async function setup(
  key: Uint8Array,
  chunkSize: number,
  salt: Uint8Array,
  noncePrefix: Uint8Array,
): Promise<State> {
  const ikm = await crypto.subtle.importKey("raw", buffer(key), "HKDF", false, ["deriveBits"]);
  const subkeyBytes = await hkdf(ikm, salt, CHUNK_DOMAIN, 32);
  const keyCommitment = await hkdf(ikm, salt, KEY_COMMITMENT_DOMAIN, KEY_COMMITMENT_SIZE);
  const subkey = await crypto.subtle.importKey("raw", buffer(subkeyBytes), "AES-GCM", false, [
    "encrypt",
  ]);
  subkeyBytes.fill(0);
  return { subkey, keyCommitment, header: header(chunkSize, salt, noncePrefix, keyCommitment) };
}

async function hkdf(
  ikm: CryptoKey,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: buffer(salt), info: buffer(info) },
    ikm,
    length * 8,
  );
  return new Uint8Array(bits);
}

function u32be(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, false);
  return out;
}

/** Every chunk's associated data: the manifest fields fixed before the first chunk. */
export function header(
  chunkSize: number,
  salt: Uint8Array,
  noncePrefix: Uint8Array,
  keyCommitment: Uint8Array,
): Uint8Array {
  return concat(CHUNK_DOMAIN, u32be(chunkSize), salt, noncePrefix, keyCommitment);
}

export function chunkNonce(noncePrefix: Uint8Array, index: number, last: boolean): Uint8Array {
  return concat(noncePrefix, u32be(index), Uint8Array.of(last ? 1 : 0));
}
