// Types for the Atelier API, generated from the schema the server exports.
//   npm run codegen   rewrites src/generated/graphql.ts (commit it; a test fails on drift)
// CODEGEN_OUT writes elsewhere instead (the drift test generates into a temp file).
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../schema.graphql",
  documents: "src/operations.graphql",
  generates: {
    [process.env.CODEGEN_OUT ?? "src/generated/graphql.ts"]: {
      // typescript-operations (v6+) emits the enum and input types the operations use by
      // itself, so the `typescript` plugin (every schema type) is not needed.
      plugins: ["typescript-operations", "typed-document-node"],
      config: {
        // Every custom scalar must be mapped here: a new one fails codegen instead of
        // silently becoming `any`.
        strictScalars: true,
        scalars: {
          // ISO 8601 in UTC with milliseconds and Z, e.g. "2025-01-31T12:00:00.123Z"
          // (what Date.prototype.toISOString writes).
          DateTime: "string",
          // The only JSON field is TaskResult.metadata, always an object
          // (model, device, timings, ...); any JSON is accepted on input.
          JSON: { input: "unknown", output: "Record<string, unknown>" },
          // A file part of a multipart request: what apollo-upload-client and urql
          // send as one (a File or Blob in a browser).
          Upload: { input: "File | Blob", output: "never" },
        },
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
};

export default config;
