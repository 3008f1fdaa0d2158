// Atelier's GraphiQL page. React, ReactDOM, graphql-ws and GraphiQL are loaded before this
// script, from the web node itself (project/ide.py). Queries and mutations go over
// HTTP POST to this URL; subscriptions over graphql-transport-ws (graphql-ws) to the same
// URL, with the Headers tab's object as the connection_init payload, which is where the
// API reads a websocket's key: {"Authorization": "Bearer <key>"}.
"use strict";

(() => {
  const EXAMPLE = `# Atelier's GraphQL API. Run with Ctrl-Enter or the play button.
#
# With API keys configured, put yours in the Headers tab below:
#   {"Authorization": "Bearer <key>"}
# (sent with each HTTP request, and as the websocket's connection_init
# payload for subscriptions).
#
# Submit a task, then follow it: copy its id into the subscription.

mutation Submit {
  submitTask(input: {imageGeneration: {prompt: "a lighthouse at dusk", steps: 8, width: 64, height: 64}}) {
    id
    status
    queuePosition
  }
}

subscription Follow($id: ID!) {
  taskProgress(id: $id) {
    status
    stage
    step
    totalSteps
    progress
    error { code message }
    result { seed image { url width height } }
  }
}
`;

  const here = new URL(window.location.href);
  here.search = "";
  here.hash = "";
  const httpUrl = here.toString();
  const wsUrl = httpUrl.replace(/^http/, "ws");

  const overHttp = GraphiQL.createFetcher({ url: httpUrl });

  // One websocket for the headers in use; another once they change (a new key needs a
  // new connection_init).
  let socket = null;
  let socketHeaders = null;
  function websocket(headers) {
    const key = JSON.stringify(headers ?? {});
    if (socket === null || key !== socketHeaders) {
      socket?.dispose();
      socket = graphqlWs.createClient({
        url: wsUrl,
        connectionParams: headers ?? {},
        lazy: true,
        retryAttempts: 0,
      });
      socketHeaders = key;
    }
    return socket;
  }

  // The operations of a document, [{kind, name}] in order, read from its top level
  // (skipping strings, comments, variable definitions and selection sets). GraphiQL's
  // parsed document can lag behind the editor by a keystroke, so the text is read here.
  const TOKENS = /"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|#[^\n\r]*|[{}()]|[_A-Za-z]\w*/g;
  const KEYWORDS = new Set(["query", "mutation", "subscription", "fragment"]);
  function operations(query) {
    const found = [];
    let depth = 0;
    let parens = 0;
    let pending = null;
    for (const [token] of query.matchAll(TOKENS)) {
      if (token.startsWith('"') || token.startsWith("#")) continue;
      if (token === "(" || token === ")") {
        parens += token === "(" ? 1 : -1;
      } else if (parens > 0) {
        continue;
      } else if (token === "{") {
        if (depth === 0 && pending === null) found.push({ kind: "query", name: null });
        if (depth === 0) pending = null;
        depth += 1;
      } else if (token === "}") {
        depth -= 1;
      } else if (depth === 0 && pending === null && KEYWORDS.has(token)) {
        pending = { kind: token, name: null };
        if (token !== "fragment") found.push(pending);
      } else if (depth === 0 && pending !== null && pending.name === null) {
        pending.name = token;
      }
    }
    return found;
  }

  function isSubscription(params) {
    const found = operations(params.query ?? "");
    const operation = params.operationName
      ? found.find((o) => o.name === params.operationName)
      : found.length === 1 && found[0];
    return operation?.kind === "subscription";
  }

  // What GraphiQL can show: an Error with a message, whatever graphql-ws reports.
  function asError(problem) {
    if (problem instanceof Error) return problem;
    if (Array.isArray(problem)) return new Error(problem.map((e) => e.message).join("; "));
    if (problem && typeof problem.code === "number") {
      const reason = problem.reason ? `: ${problem.reason}` : "";
      return new Error(`the websocket closed (${problem.code}${reason})`);
    }
    return new Error(String(problem));
  }

  function overWebsocket(params, headers) {
    return {
      subscribe(sink) {
        const stop = websocket(headers).subscribe(params, {
          next: (value) => sink.next(value),
          error: (problem) => sink.error(asError(problem)),
          complete: () => sink.complete(),
        });
        return { unsubscribe: stop };
      },
    };
  }

  function fetcher(params, options) {
    if (isSubscription(params)) {
      return overWebsocket(params, options?.headers);
    }
    return overHttp(params, options);
  }

  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery: EXAMPLE,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      // Keys stay out of localStorage.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    }),
  );
  document.body.dataset.ready = "true";
})();
