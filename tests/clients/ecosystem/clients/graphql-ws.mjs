// graphql-ws's own client (graphql-transport-ws), with its defaults: lazy, retrying.
import { createClient } from "graphql-ws";

import { OPERATION_NAMES } from "../operations.mjs";
import { formatted, result } from "../errors.mjs";

export const protocol = "graphql-transport-ws";

export function wsClient({ url, key, WebSocket }) {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${key}` },
  });
}

export async function connect(options) {
  const client = wsClient(options);
  const payload = (document, variables) => ({
    query: document,
    variables,
    operationName: OPERATION_NAMES.get(document),
  });
  return {
    execute(document, variables) {
      return new Promise((resolve) => {
        let last = null;
        client.subscribe(payload(document, variables), {
          next: (value) => (last = value),
          error: (error) => resolve({ data: null, errors: formatted(error) }),
          complete: () => resolve(result(last)),
        });
      });
    },
    subscribe(document, variables, sink) {
      return client.subscribe(payload(document, variables), {
        next: (value) => sink.next(result(value)),
        error: (error) => sink.error(formatted(error)),
        complete: () => sink.complete(),
      });
    },
    close: () => client.dispose(),
  };
}
