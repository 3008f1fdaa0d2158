// node sse.mjs — graphql-sse's client in distinct connections mode (one HTTP response per
// operation), driven line by line by tests/clients/test_sse.py.
//
// stdin, one JSON command a line:
//   {"open": "<name>", "key": "<API key>" | null, "query": "...", "variables": {...}}
//   {"close": "<name>"}           — disposes of the operation (aborts its request)
// stdout, one JSON line per thing an operation saw:
//   {"name", "event": "connected"}  — the response's headers arrived (200)
//   {"name", "event": "next", "payload": <ExecutionResult>}
//   {"name", "event": "complete"} | {"name", "event": "error", "error": {...}}
//   {"name", "event": "closed"}
//
// Environment: ATELIER_HTTP_URL (http://.../graphql).
import readline from "node:readline";
import { createClient, NetworkError } from "graphql-sse";

const url = process.env.ATELIER_HTTP_URL;
const operations = new Map();

function emit(name, event, extra = {}) {
  process.stdout.write(`${JSON.stringify({ name, event, ...extra })}\n`);
}

function described(error) {
  if (error instanceof NetworkError) {
    return { network: true, message: error.message, status: error.response?.status ?? null };
  }
  if (Array.isArray(error)) return { errors: error };
  return { message: String(error?.message ?? error) };
}

function open({ open: name, key, query, variables }) {
  const client = createClient({
    url,
    singleConnection: false,
    // An error is the test's to see, not to retry past.
    retryAttempts: 0,
    headers: key ? { Authorization: `Bearer ${key}` } : {},
    on: { connected: () => emit(name, "connected") },
  });
  const dispose = client.subscribe(
    { query, variables: variables ?? {} },
    {
      next: (payload) => emit(name, "next", { payload }),
      complete: () => emit(name, "complete"),
      error: (error) => emit(name, "error", { error: described(error) }),
    },
  );
  operations.set(name, { client, dispose });
}

function close({ close: name }) {
  const operation = operations.get(name);
  if (!operation) return;
  operations.delete(name);
  operation.dispose();
  operation.client.dispose();
  emit(name, "closed");
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const command = JSON.parse(line);
  if ("open" in command) open(command);
  else if ("close" in command) close(command);
});
lines.on("close", () => {
  for (const name of [...operations.keys()]) close({ close: name });
  process.exit(0);
});
