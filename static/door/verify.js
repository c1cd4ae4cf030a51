// Checks an admission token on the door device, offline, with the conference's public keys: the
// same rules as confapp/tickets/tokens.py. An ES module for the scanner page and for node (the
// test that holds this verifier and the Python one to the same answers).
//
// Token: base64url( version | key id | [conference id, 4 bytes big-endian, version 2 only] |
// ticket code, 8 bytes | Ed25519 signature, 64 bytes, over everything before it ).

import * as noble from "../vendor/noble-ed25519/index.js";

const CODE_BYTES = 8;
const CONFERENCE_ID_BYTES = 4;
const SIGNATURE_BYTES = 64;
const SIGNED_LENGTH = { 1: 2 + CODE_BYTES, 2: 2 + CONFERENCE_ID_BYTES + CODE_BYTES };
const MAX_TOKEN_LENGTH = 120;
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** What a QR or a typed entry holds, read as the server reads it: {token} for a ticket URL (any
 * host; the last path segment after /tickets/) or a bare token, {code} for a typed ticket code,
 * or null when it can be neither. */
export function parseScan(text) {
  const scan = String(text || "").trim();
  if (!scan || scan.length > 2048) return null;
  const at = scan.lastIndexOf("/tickets/");
  if (at >= 0) {
    const tail = scan.slice(at + "/tickets/".length).split(/[?#]/)[0].replace(/^\/+|\/+$/g, "");
    return tail ? tokenOf(tail.split("/").pop()) : null;
  }
  const code = normaliseTicketCode(scan);
  if (code) return { code };
  return tokenOf(scan);
}

function tokenOf(text) {
  return text.length <= MAX_TOKEN_LENGTH && /^[A-Za-z0-9_-]+$/.test(text) ? { token: text } : null;
}

/** A ticket code as a person types it (ABCD-EFGH-IJKLM, spaces, lower case) in stored form. */
export function normaliseTicketCode(typed) {
  const code = String(typed).replace(/[\s-]/g, "").toUpperCase();
  if (code.length !== 13 || ![...code].every((c) => BASE32.includes(c))) return null;
  const raw = base32Decode(code);
  return raw && raw.length === CODE_BYTES ? code : null;
}

export function displayCode(code) {
  return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`;
}

function base32Encode(bytes) {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function base32Decode(text) {
  let bits = 0;
  let value = 0;
  const out = [];
  for (const char of text) {
    const index = BASE32.indexOf(char);
    if (index < 0) return null;
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

function base64UrlDecode(text) {
  // Strict: only the URL-safe alphabet, no padding; the caller re-encodes to refuse variants.
  const out = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    const index = BASE64URL.indexOf(char);
    if (index < 0) return null;
    value = ((value << 6) | index) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  if (text.length % 4 === 1) return null;
  return Uint8Array.from(out);
}

function base64UrlEncode(bytes) {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 6) {
      out += BASE64URL[(value >>> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0) out += BASE64URL[(value << (6 - bits)) & 63];
  return out;
}

function base64Decode(text) {
  return base64UrlDecode(String(text).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_"));
}

let webCryptoEd25519 = null; // unknown until first tried; then true or false

async function verifyWithWebCrypto(publicKey, signature, message) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) throw new Error("no WebCrypto");
  const key = await subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  return subtle.verify({ name: "Ed25519" }, key, signature, message);
}

/** Ed25519 verification: WebCrypto where the platform has it, the vendored noble verifier
 * (RFC 8032 strict, like the server's) where not, or when `useNoble` is set. */
export async function verifySignature(publicKey, signature, message, { useNoble = false } = {}) {
  if (!useNoble && webCryptoEd25519 !== false) {
    try {
      const valid = await verifyWithWebCrypto(publicKey, signature, message);
      webCryptoEd25519 = true;
      return valid;
    } catch (error) {
      // DataError: a key that is not a point; the platform's answer stands (invalid).
      if (webCryptoEd25519 === true || (error && error.name === "DataError")) return false;
      webCryptoEd25519 = false;
    }
  }
  try {
    return await noble.verifyAsync(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

export function webCryptoSupportsEd25519() {
  return webCryptoEd25519;
}

/** Keys as /api/{conference}/ticket-keys gives them ([{id, public_key (base64)}]) as a Map of
 * key id -> raw 32-byte key. */
export function keysFromApi(keys) {
  const found = new Map();
  for (const key of keys || []) {
    const raw = base64Decode(key.public_key);
    if (raw && raw.length === 32 && Number.isInteger(key.id)) found.set(key.id, raw);
  }
  return found;
}

/** The door's judgement of a token on its own: {result, ticket_code}, result one of
 * "admitted" (genuine, for this conference, not revoked), "cancelled" (on the revocation list),
 * "wrong_conference" or "invalid". `keys` is a Map id -> raw key or the API's list; `revoked`
 * an iterable of ticket codes. A version-1 token names no conference, so it passes that check
 * (the server settles it when the device syncs). */
export async function verifyToken(token, keys, conferenceId, revoked, options = {}) {
  const invalid = { result: "invalid", ticket_code: null };
  const keyMap = keys instanceof Map ? keys : keysFromApi(keys);
  if (typeof token !== "string" || !token || token.length > MAX_TOKEN_LENGTH) return invalid;
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return invalid;
  const raw = base64UrlDecode(token);
  if (!raw || raw.length === 0) return invalid;
  const signedLength = SIGNED_LENGTH[raw[0]];
  if (!signedLength || raw.length !== signedLength + SIGNATURE_BYTES) return invalid;
  if (base64UrlEncode(raw) !== token) return invalid; // one spelling per token
  const publicKey = keyMap.get(raw[1]);
  if (!publicKey) return invalid;
  const message = raw.slice(0, signedLength);
  const signature = raw.slice(signedLength);
  if (!(await verifySignature(publicKey, signature, message, options))) return invalid;
  let tokenConference = null;
  let codeStart = 2;
  if (raw[0] === 2) {
    tokenConference = ((raw[2] << 24) >>> 0) + (raw[3] << 16) + (raw[4] << 8) + raw[5];
    codeStart = 2 + CONFERENCE_ID_BYTES;
  }
  const code = base32Encode(raw.slice(codeStart, signedLength));
  if (tokenConference !== null && tokenConference !== Number(conferenceId)) {
    return { result: "wrong_conference", ticket_code: code };
  }
  // The list spells codes with dashes (ABCD-EFGH-IJKLM); older lists kept on a phone, without.
  const revokedSet = new Set([...(revoked || [])].map((c) => normaliseTicketCode(c) || c));
  if (revokedSet.has(code)) return { result: "cancelled", ticket_code: code };
  return { result: "admitted", ticket_code: code };
}
