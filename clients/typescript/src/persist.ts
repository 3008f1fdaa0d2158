/**
 * Writes persisted-documents.json: every operation this client sends, as the text it
 * sends (graphql's `print` of the generated document, fragments included), under the
 * SHA-256 of that text — the map graphql-codegen's client preset writes as persisted
 * documents. A server started with ATELIER_TRUSTED_DOCUMENTS=<this file> runs these
 * operations and refuses any other document.
 *
 *   npm run persist    (after `npm run codegen`; commit the file: a test fails on drift)
 *
 * PERSIST_OUT writes elsewhere instead (the drift test writes into a temp file).
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";

import { print, type DocumentNode } from "graphql";

import * as generated from "./generated/graphql.js";

const documents: Record<string, string> = {};
for (const [name, value] of Object.entries(generated)) {
  // Operations only: a fragment alone is never sent.
  if (!name.endsWith("Document")) continue;
  const text = print(value as DocumentNode);
  documents[createHash("sha256").update(text).digest("hex")] = text;
}
const out = process.env.PERSIST_OUT ?? "persisted-documents.json";
writeFileSync(out, `${JSON.stringify(documents, null, 2)}\n`);
console.log(`${Object.keys(documents).length} documents in ${out}`);
