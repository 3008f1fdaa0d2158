// Apollo's legacy SubscriptionClient (the "graphql-ws" subprotocol): every operation on
// the socket, as with its own docs' `client.request(...)`.
import subscriptionsTransportWs from "subscriptions-transport-ws";

import { formatted, result } from "../errors.mjs";

const { SubscriptionClient } = subscriptionsTransportWs;

export const protocol = "graphql-ws";

export async function connect({ url, key, WebSocket }) {
  const client = new SubscriptionClient(
    url,
    { reconnect: false, connectionParams: { Authorization: `Bearer ${key}` } },
    WebSocket,
  );
  const request = (document, variables, sink) =>
    client.request({ query: document, variables }).subscribe({
      next: (value) => sink.next(result(value)),
      error: (error) => sink.error(formatted(error)),
      complete: () => sink.complete(),
    });
  return {
    execute(document, variables) {
      return new Promise((resolve) => {
        let last = { data: null, errors: [] };
        request(document, variables, {
          next: (value) => (last = value),
          error: (errors) => resolve({ data: null, errors }),
          complete: () => resolve(last),
        });
      });
    },
    subscribe(document, variables, sink) {
      const subscription = request(document, variables, sink);
      return () => subscription.unsubscribe();
    },
    async close() {
      client.close();
    },
  };
}
