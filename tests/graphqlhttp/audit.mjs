// The GraphQL over HTTP audit suite against a live server, as JSON on stdout.
//
//   node audit.mjs <url> [api key]
//
// Prints one object per audit: {id, name, status, reason?, httpStatus?, body?}; the
// caller (test_audit.py) decides which results are acceptable.
import { auditServer } from 'graphql-http';

const [url, key] = process.argv.slice(2);
if (!url) {
  console.error('usage: node audit.mjs <url> [api key]');
  process.exit(2);
}

function authorized(input, init = {}) {
  const headers = new Headers(init.headers);
  if (key) headers.set('authorization', `Bearer ${key}`);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn: authorized });
const report = [];
for (const result of results) {
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    entry.reason = result.reason;
    entry.httpStatus = result.response.status;
    try {
      entry.body = (await result.response.text()).slice(0, 500);
    } catch {
      entry.body = null; // already read by the audit
    }
  }
  report.push(entry);
}
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
