// Apollo Client with GraphQLWsLink over a graphql-ws client: every operation on the
// socket, with Apollo's defaults (InMemoryCache, errorPolicy "none").
import { ApolloClient, InMemoryCache, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";

import { wsClient } from "./graphql-ws.mjs";
import { SUBMIT, CANCEL } from "../operations.mjs";
import { formatted } from "../errors.mjs";

export const protocol = "graphql-transport-ws";

const MUTATIONS = new Set([SUBMIT, CANCEL]);

export async function connect(options) {
  const socket = wsClient(options);
  const client = new ApolloClient({ link: new GraphQLWsLink(socket), cache: new InMemoryCache() });
  const parsed = new Map();
  const documentOf = (text) => {
    if (!parsed.has(text)) parsed.set(text, gql(text));
    return parsed.get(text);
  };
  return {
    async execute(document, variables) {
      try {
        const value = MUTATIONS.has(document)
          ? await client.mutate({ mutation: documentOf(document), variables })
          : await client.query({ query: documentOf(document), variables });
        return { data: value.data ?? null, errors: formatted(value.error) };
      } catch (error) {
        return { data: null, errors: formatted(error) };
      }
    },
    subscribe(document, variables, sink) {
      const subscription = client.subscribe({ query: documentOf(document), variables }).subscribe({
        next: (value) => sink.next({ data: value.data ?? null, errors: formatted(value.error) }),
        error: (error) => sink.error(formatted(error)),
        complete: () => sink.complete(),
      });
      return () => subscription.unsubscribe();
    },
    async close() {
      client.stop();
      await socket.dispose();
    },
  };
}
