// A GraphQL request over HTTP as the demo and ops pages send it (POST /graphql):
// its data, or the error `fail(message, code, field)` makes of what went wrong, each
// page with its own error type and wording. Served at /pagekit/request.js.

export async function request(body, headers, fail) {
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { Accept: "application/json", ...headers },
      body,
    });
  } catch {
    throw fail("The server could not be reached.", "NETWORK_ERROR", null);
  }
  let answer;
  try {
    answer = await response.json();
  } catch {
    throw fail(`The server answered ${response.status}.`, `HTTP_${response.status}`, null);
  }
  const [error] = answer.errors ?? [];
  if (error) {
    const extensions = error.extensions ?? {};
    throw fail(error.message, extensions.code ?? "ERROR", extensions.field ?? null);
  }
  return answer.data;
}
