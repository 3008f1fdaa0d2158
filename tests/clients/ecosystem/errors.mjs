// What a client handed over as an error, as plain {message, code} records.

export function formatted(error) {
  if (error === undefined || error === null) return [];
  if (Array.isArray(error)) return error.flatMap(formatted);
  // Apollo's CombinedGraphQLErrors and urql's CombinedError carry the GraphQL errors.
  if (Array.isArray(error.graphQLErrors) && error.graphQLErrors.length > 0) {
    return formatted(error.graphQLErrors);
  }
  if (Array.isArray(error.errors) && error.errors.length > 0) return formatted(error.errors);
  if (error.networkError) return formatted(error.networkError);
  // A close event (graphql-ws) or an error event (ws).
  if (typeof error.code === "number" && "reason" in error) {
    return [{ message: `socket closed with ${error.code} ${error.reason}`, code: "CLOSED" }];
  }
  const code = error.extensions?.code ?? null;
  return [{ message: String(error.message ?? error), code }];
}

// A GraphQL result ({data, errors}) as the scenario records it.
export function result(value) {
  return { data: value?.data ?? null, errors: formatted(value?.errors) };
}
