// node uploads.mjs '<plan as JSON>'  — prints the upload scenario's report as JSON.
//
// Apollo Client with apollo-upload-client's UploadHttpLink, as a frontend uploads
// files: a background removal and an inpainting in one mutation, their images as
// Node's own `File` and `Blob` (the one picture is both tasks' image, so the link
// sends it once, at two paths); then the same tasks with the same bytes inline as
// base64, through the same link (plain JSON: no files in the variables). Each task
// is followed over graphql-ws to its end and its result's images read back.
// tests/clients/test_ecosystem.py judges the report.
//
// Plan: {image, mask: base64 PNGs; inpainting: the inpainting's other fields;
// timeout: seconds to wait for the tasks}. Environment as run.mjs's (the first key's
// owner submits).
import { ApolloClient, InMemoryCache, gql } from "@apollo/client";
import UploadHttpLink from "apollo-upload-client/UploadHttpLink.mjs";
import WebSocket from "ws";

import { wsClient } from "./clients/graphql-ws.mjs";
import { formatted } from "./errors.mjs";
import { TASK_PROGRESS } from "./operations.mjs";

const SUBMIT_BOTH = gql`
  mutation SubmitBoth($cutout: SubmitTaskInput!, $inpaint: SubmitTaskInput!) {
    cutout: submitTask(input: $cutout) { id kind status }
    inpaint: submitTask(input: $inpaint) { id kind status }
  }
`;
const RESULT = gql`
  query Result($id: ID!) {
    task(id: $id) { id status error { code message } result { images { width height base64 } } }
  }
`;

// What each request put on the wire: its content type, and a form's parts in order.
async function described(request) {
  const record = { contentType: request.headers.get("content-type"), parts: null };
  if (record.contentType?.startsWith("multipart/form-data")) {
    const form = await request.clone().formData();
    record.parts = [...form.entries()].map(([name, value]) =>
      typeof value === "string"
        ? { name, value }
        : { name, filename: value.name, type: value.type, size: value.size },
    );
  }
  return record;
}

// The task's events over graphql-ws until it completes, or `seconds` pass.
function followed(socket, id, seconds) {
  return new Promise((resolve) => {
    const events = [];
    const end = (outcome) => {
      clearTimeout(timer);
      resolve({ events, ...outcome });
    };
    const timer = setTimeout(() => end({ failure: `no end within ${seconds} s` }), seconds * 1000);
    socket.subscribe(
      { query: TASK_PROGRESS, variables: { id } },
      {
        next: ({ data, errors }) => {
          if (data?.taskProgress) events.push(data.taskProgress);
          if (errors?.length) end({ failure: JSON.stringify(errors) });
        },
        error: (error) => end({ failure: JSON.stringify(formatted(error)) }),
        complete: () => end({}),
      },
    );
  });
}

const [planText] = process.argv.slice(2);
if (!planText) {
  console.error("usage: node uploads.mjs '<plan JSON>'");
  process.exit(2);
}
const plan = JSON.parse(planText);
const [key] = Object.values(JSON.parse(process.env.ATELIER_KEYS));
const report = { requests: [], submitted: {}, ended: {}, results: {}, failures: [] };

const link = new UploadHttpLink({
  uri: process.env.ATELIER_HTTP_URL,
  headers: { Authorization: `Bearer ${key}` },
  fetch: async (url, options) => {
    const request = new Request(url, options);
    report.requests.push(await described(request));
    return fetch(request);
  },
});
const client = new ApolloClient({ link, cache: new InMemoryCache() });
const socket = wsClient({ url: process.env.ATELIER_URL, key, WebSocket });

try {
  const bytes = (text) => Buffer.from(text, "base64");
  const image = new File([bytes(plan.image)], "picture.png", { type: "image/png" });
  const mask = new Blob([bytes(plan.mask)], { type: "image/png" }); // as canvas.toBlob gives
  const inputs = {
    uploaded: {
      cutout: { backgroundRemoval: { imageFile: image } },
      inpaint: { inpainting: { ...plan.inpainting, imageFile: image, maskFile: mask } },
    },
    inline: {
      cutout: { backgroundRemoval: { image: plan.image } },
      inpaint: { inpainting: { ...plan.inpainting, image: plan.image, mask: plan.mask } },
    },
  };
  for (const [how, variables] of Object.entries(inputs)) {
    const { data, error } = await client.mutate({ mutation: SUBMIT_BOTH, variables });
    if (error) report.failures.push(`${how}: ${JSON.stringify(formatted(error))}`);
    for (const [alias, task] of Object.entries(data ?? {})) {
      report.submitted[`${alias}-${how}`] = task;
    }
  }
  const names = Object.keys(report.submitted);
  const ends = names.map((name) =>
    followed(socket, report.submitted[name].id, plan.timeout ?? 100),
  );
  for (const [index, { events, failure }] of (await Promise.all(ends)).entries()) {
    report.ended[names[index]] = events.at(-1) ?? null;
    if (failure) report.failures.push(`${names[index]}: ${failure}`);
  }
  for (const name of names) {
    const variables = { id: report.submitted[name].id };
    const { data, error } = await client.query({ query: RESULT, variables });
    if (error) report.failures.push(`${name}: ${JSON.stringify(formatted(error))}`);
    report.results[name] = data?.task ?? null;
  }
} catch (error) {
  report.failures.push(String(error?.stack ?? error));
} finally {
  client.stop();
  await socket.dispose();
}
// Out before exiting (a pipe takes a report this size in several writes); the
// clients may keep timers after closing.
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`, () => process.exit(0));
