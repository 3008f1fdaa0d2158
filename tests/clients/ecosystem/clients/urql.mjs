// urql's core client with subscriptionExchange over a graphql-ws client, every
// operation on the socket (`enableAllOperations`, as urql's docs show for graphql-ws).
import { Client, cacheExchange, subscriptionExchange } from "@urql/core";
import { onEnd, pipe, subscribe } from "wonka";

import { wsClient } from "./graphql-ws.mjs";
import { SUBMIT, CANCEL } from "../operations.mjs";
import { formatted } from "../errors.mjs";

export const protocol = "graphql-transport-ws";

const MUTATIONS = new Set([SUBMIT, CANCEL]);

function recorded(value) {
  return { data: value.data ?? null, errors: formatted(value.error) };
}

export async function connect(options) {
  const socket = wsClient(options);
  const client = new Client({
    url: options.httpUrl,
    exchanges: [
      cacheExchange,
      subscriptionExchange({
        enableAllOperations: true,
        forwardSubscription(request) {
          const input = { ...request, query: request.query || "" };
          return {
            subscribe: (sink) => ({ unsubscribe: socket.subscribe(input, sink) }),
          };
        },
      }),
    ],
  });
  return {
    async execute(document, variables) {
      const run = MUTATIONS.has(document) ? client.mutation : client.query;
      return recorded(await run.call(client, document, variables).toPromise());
    },
    subscribe(document, variables, sink) {
      const { unsubscribe } = pipe(
        client.subscription(document, variables),
        onEnd(() => sink.complete()),
        subscribe((value) => {
          // On completion urql repeats the last result with `hasNext: false`: its end
          // marker, not an event (a network error also comes with `hasNext: false`).
          if (value.hasNext === false && !value.error?.networkError) return;
          sink.next(recorded(value));
        }),
      );
      return unsubscribe;
    },
    close: () => socket.dispose(),
  };
}
