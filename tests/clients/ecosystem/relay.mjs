// node relay.mjs <page size> <owner> — Apollo Client paging through the caller's tasks with
// its own Relay helper, as an app with an infinite list does: `relayStylePagination()`
// as the field policy of `tasksConnection`, `fetchMore` with the last `endCursor` until
// `hasNextPage` is false. After the first page it submits a task, which must not show
// up in (or shift) the pages that follow. Then it refetches the first task with
// `node(id:)`, through `possibleTypes` (Task implements Node) and the cache.
// Prints a JSON report: the ids as the cache merged them, the new task's id, the
// page sizes seen, and what node(id:) answered.
//
// Environment: ATELIER_HTTP_URL (http://.../graphql), ATELIER_KEYS (JSON: owner -> key).
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { relayStylePagination } from "@apollo/client/utilities";
import { filter, firstValueFrom } from "rxjs";

const PAGE = gql`
  query TasksPage($first: Int!, $after: String) {
    tasksConnection(first: $first, after: $after) {
      edges {
        cursor
        node {
          id
          kind
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`;
const NODE = gql`
  query Refetch($id: ID!) {
    node(id: $id) {
      id
      ... on Task {
        kind
        stageCode
      }
    }
  }
`;
const SUBMIT = gql`
  mutation Submit($input: SubmitTaskInput!) {
    submitTask(input: $input) {
      id
    }
  }
`;

const [pageSize, owner] = process.argv.slice(2);
const first = Number(pageSize);
const client = new ApolloClient({
  link: new HttpLink({
    uri: process.env.ATELIER_HTTP_URL,
    headers: { authorization: `Bearer ${JSON.parse(process.env.ATELIER_KEYS)[owner]}` },
  }),
  cache: new InMemoryCache({
    possibleTypes: { Node: ["Task"] },
    typePolicies: { Query: { fields: { tasksConnection: relayStylePagination(["status"]) } } },
  }),
});

// An ObservableQuery (an rxjs Observable in Apollo 4), watched as a list view does.
const watched = client.watchQuery({ query: PAGE, variables: { first } });
const settled = watched.pipe(filter((result) => result.dataState === "complete" || result.error));
const watching = settled.subscribe(() => {});
const pages = [];
const answer = await firstValueFrom(settled);
if (answer.error) throw answer.error;
pages.push(answer.data.tasksConnection.edges.length);
const submitted = await client.mutate({
  mutation: SUBMIT,
  variables: { input: { imageGeneration: { prompt: "submitted while paging", steps: 1, width: 64, height: 64 } } },
});
let { pageInfo } = answer.data.tasksConnection;
while (pageInfo.hasNextPage) {
  if (pages.length > 100) throw new Error(`still paging after ${pages.length} pages`);
  const more = await watched.fetchMore({ variables: { after: pageInfo.endCursor } });
  pages.push(more.data.tasksConnection.edges.length);
  ({ pageInfo } = more.data.tasksConnection);
}
// The list as the cache merged the pages (what the watching view renders).
const data = client.readQuery({ query: PAGE, variables: { first } });
const ids = data.tasksConnection.edges.map((edge) => edge.node.id);
watching.unsubscribe();
const refetched = await client.query({ query: NODE, variables: { id: ids[0] } });
const unknown = await client.query({ query: NODE, variables: { id: "00000000-0000-0000-0000-000000000000" } });
process.stdout.write(
  `${JSON.stringify({
    ids,
    pages,
    submitted: submitted.data.submitTask.id,
    node: refetched.data.node,
    unknown: unknown.data.node,
  })}\n`,
);
process.exit(0);
