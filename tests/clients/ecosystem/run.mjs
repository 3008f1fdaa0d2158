// node run.mjs <client> '<plan as JSON>'  — prints the scenario's report as JSON.
//
// Environment: ATELIER_URL (ws://.../graphql), ATELIER_HTTP_URL (http://.../graphql),
// ATELIER_KEYS (JSON: owner name -> API key).
import { run } from "./scenario.mjs";

const CLIENTS = ["graphql-ws", "apollo", "urql", "subscriptions-transport-ws"];

const [name, planText] = process.argv.slice(2);
if (!CLIENTS.includes(name) || !planText) {
  console.error(`usage: node run.mjs <${CLIENTS.join("|")}> '<plan JSON>'`);
  process.exit(2);
}
const client = await import(`./clients/${name}.mjs`);
const report = await run({
  client: name,
  connect: client.connect,
  protocol: client.protocol,
  plan: JSON.parse(planText),
  keys: JSON.parse(process.env.ATELIER_KEYS),
  url: process.env.ATELIER_URL,
  httpUrl: process.env.ATELIER_HTTP_URL,
});
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
// Clients may keep timers (reconnects, keep-alives) after closing: the report is out.
process.exit(0);
