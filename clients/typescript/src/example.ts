/**
 * Submit a text-to-image task to Atelier and follow it to the end with a progress bar;
 * with --image, an image-to-image task that redraws that picture.
 *
 *   ATELIER_URL=ws://127.0.0.1:8000/graphql ATELIER_API_KEY=<key> \
 *     npm run example -- "a lighthouse at dusk" --steps 20 --width 512 --height 512
 *   npm run example -- "the same, in watercolour" --image photo.png --strength 0.5 --num-images 2
 *
 * Every image of the result is printed (a signed link to each, with its seed).
 * Both operations run over one graphql-ws connection (protocol graphql-transport-ws),
 * authenticated by the connection_init payload. Every type comes from
 * src/generated/graphql.ts (`npm run codegen`). Ctrl-C cancels the task.
 * Exits 0 when the task SUCCEEDED, 1 when it FAILED or was CANCELLED (or on an
 * error), 2 on bad arguments.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print, type GraphQLFormattedError } from "graphql";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";

import {
  CancelTaskDocument,
  SubmitTaskDocument,
  TaskProgressDocument,
  type ImageGenerationInput,
  type ImageToImageInput,
  type SubmitTaskInput,
  type TaskFieldsFragment,
  type TaskStatus,
} from "./generated/graphql.js";

const TERMINAL: ReadonlySet<TaskStatus> = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
const BAR_WIDTH = 30;

/** GraphQL errors, with the `extensions.code` that Atelier puts on every one. */
class ApiError extends Error {
  constructor(readonly errors: readonly GraphQLFormattedError[]) {
    super(
      errors
        .map((e) => {
          const code = e.extensions?.code ?? "ERROR";
          const field = e.extensions?.field ? ` (${String(e.extensions.field)})` : "";
          return `${String(code)}${field}: ${e.message}`;
        })
        .join("; "),
    );
  }
}

/** Runs one typed operation over the websocket and yields its results' data. */
async function* operation<TData, TVariables extends Record<string, unknown>>(
  client: Client,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
): AsyncGenerator<TData> {
  try {
    for await (const result of client.iterate<TData>({ query: print(document), variables })) {
      if (result.errors?.length) throw new ApiError(result.errors);
      if (result.data == null) throw new Error("a result without data");
      yield result.data;
    }
  } catch (error) {
    // graphql-ws rejects with the `error` message's list of GraphQL errors as it is.
    if (Array.isArray(error)) throw new ApiError(error as GraphQLFormattedError[]);
    throw error;
  }
}

async function single<TData, TVariables extends Record<string, unknown>>(
  client: Client,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
): Promise<TData> {
  for await (const data of operation(client, document, variables)) return data;
  throw new Error("the operation completed without a result");
}

/** `[##########....................]  33% RUNNING   denoising 2/6` */
export function progressBar(task: TaskFieldsFragment): string {
  const filled = Math.min(BAR_WIDTH, Math.max(0, Math.floor(task.progress * BAR_WIDTH)));
  const percent = `${Math.floor(task.progress * 100)}%`.padStart(4);
  const parts = [`[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}]`, percent];
  parts.push(task.status.padEnd(9));
  if (task.stage) parts.push(task.stage);
  if (task.step != null && task.totalSteps != null) parts.push(`${task.step}/${task.totalSteps}`);
  if (task.queuePosition != null) parts.push(`(position ${task.queuePosition} in the queue)`);
  if (task.cancelRequested && !TERMINAL.has(task.status) && task.stageCode !== "CANCELLING") {
    parts.push("(cancelling)");
  }
  return parts.join(" ");
}

function describe(task: TaskFieldsFragment): string {
  const lines = [`${task.status} ${task.kind} ${task.id}`];
  if (task.result) {
    const { images, seed, seeds, promptUsed, metadata, details } = task.result;
    // One line per image ("image:", or "image 1:", "image 2:", ... for several),
    // its size and type under it.
    images.forEach((image, index) => {
      const label = images.length > 1 ? `image ${index + 1}:` : "image:";
      lines.push(`${label.padEnd(9)} ${image.url}`);
      lines.push(`          ${image.width}x${image.height} ${image.contentType}`);
    });
    if (seeds != null && seeds.length > 1) lines.push(`seeds:    ${seeds.join(", ")}`);
    else if (seed != null) lines.push(`seed:     ${seed}`);
    if (promptUsed != null) lines.push(`prompt:   ${promptUsed}`);
    // The typed view of the metadata below: no casts from `unknown` needed.
    const total = details.timings.find((timing) => timing.phase === "total");
    const made = [details.model ?? "?", "on", details.device ?? "?"];
    if (details.steps != null) made.push(`in ${details.steps} steps`);
    if (total) made.push(`(${Math.round(total.ms)} ms)`);
    if (details.demo) made.push("[demo model: random weights]");
    lines.push(`made by:  ${made.join(" ")}`);
    lines.push(`metadata: ${JSON.stringify(metadata)}`);
  }
  if (task.error) lines.push(`error:    ${task.error.code}: ${task.error.message}`);
  // Typed codes to switch on: these two say nothing against the input itself.
  if (task.error?.reason === "DEADLINE_EXCEEDED" || task.error?.reason === "WORKER_LOST") {
    lines.push("          (the same input may succeed if submitted again)");
  }
  if (task.expiresAt) lines.push(`expires:  ${task.expiresAt}`);
  return lines.join("\n");
}

class UsageError extends Error {}

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number)) throw new UsageError(`--${name} takes an integer, not ${value}`);
  return number;
}

/** Atelier's websocket close codes (README, "Websocket close codes"). */
const CLOSE_CODES: Readonly<Record<number, string>> = {
  4403: "bad or missing API key: check ATELIER_API_KEY",
  4408: "no connection_init in time",
  4429: "too many messages on this connection",
};

/** Errors, close events and socket errors, in words. */
function explain(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null) {
    const { code, reason, message } = error as { code?: unknown; reason?: unknown; message?: unknown };
    if (typeof code === "number") {
      const why = [CLOSE_CODES[code], reason ? String(reason) : ""].filter(Boolean).join(": ");
      return `the websocket closed with ${code}${why ? ` (${why})` : ""}`;
    }
    if (typeof message === "string" && message) return message;
  }
  return String(error);
}

function decimal(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number)) throw new UsageError(`--${name} takes a number, not ${value}`);
  return number;
}

/** The fields both kinds share, then text to image's size or the picture to redraw. */
function parse(argv: string[]): SubmitTaskInput {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      image: { type: "string" },
      strength: { type: "string" },
      width: { type: "string" },
      height: { type: "string" },
      steps: { type: "string" },
      seed: { type: "string" },
      "num-images": { type: "string" },
      scheduler: { type: "string" },
      model: { type: "string" },
      previews: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError("give exactly one prompt");
  // Left out, a field takes the server's default (512x512, 30 steps, a random seed,
  // one image, the model's own scheduler; strength 0.6).
  const shared: Omit<ImageGenerationInput, "width" | "height"> = {
    prompt: positionals[0]!,
    previews: values.previews,
  };
  const steps = integer("steps", values.steps);
  const seed = integer("seed", values.seed);
  const numImages = integer("num-images", values["num-images"]);
  if (steps !== undefined) shared.steps = steps;
  if (seed !== undefined) shared.seed = seed;
  if (numImages !== undefined) shared.numImages = numImages;
  if (values.scheduler !== undefined) shared.scheduler = values.scheduler;
  if (values.model !== undefined) shared.model = values.model;

  const width = integer("width", values.width);
  const height = integer("height", values.height);
  const strength = decimal("strength", values.strength);
  if (values.image === undefined) {
    if (strength !== undefined) throw new UsageError("--strength needs --image");
    const input: ImageGenerationInput = { ...shared };
    if (width !== undefined) input.width = width;
    if (height !== undefined) input.height = height;
    return { imageGeneration: input };
  }
  if (width !== undefined || height !== undefined) {
    throw new UsageError("--image gives the size: leave out --width and --height");
  }
  let picture: Buffer;
  try {
    picture = readFileSync(values.image);
  } catch (error) {
    throw new UsageError(`--image: ${explain(error)}`);
  }
  // Plain base64 (a data: URL would do as well); the server checks the format.
  const input: ImageToImageInput = { ...shared, image: picture.toString("base64") };
  if (strength !== undefined) input.strength = strength;
  return { imageToImage: input };
}

async function main(): Promise<number> {
  let input: SubmitTaskInput;
  try {
    input = parse(process.argv.slice(2));
  } catch (error) {
    console.error(explain(error));
    console.error(
      'usage: example.ts "a prompt" [--image FILE [--strength S] | --width N --height N] ' +
        "[--steps N] [--seed N] [--num-images N] [--scheduler NAME] [--model NAME] [--previews]",
    );
    return 2;
  }

  const url = process.env.ATELIER_URL || "ws://127.0.0.1:8000/graphql";
  const key = process.env.ATELIER_API_KEY;
  let connected = false;
  const client = createClient({
    url,
    webSocketImpl: WebSocket, // Node 20 has no global WebSocket
    connectionParams: key ? { Authorization: `Bearer ${key}` } : {},
    // One socket from the start until dispose(), for the mutation and the subscription;
    // a failure to connect reaches the operation that waits on it.
    lazy: false,
    onNonLazyError: () => {},
    // Once connected, reconnect when the server goes away (a web node stopping closes
    // with 1001) and subscribe again: the first event is then the task as it is now.
    // Never retry a refused key (4403) or a server that was never reached.
    shouldRetry: (event) =>
      connected &&
      typeof event === "object" &&
      event !== null &&
      "code" in event &&
      typeof event.code === "number" &&
      event.code < 4000,
    on: { connected: () => (connected = true) },
  });

  let task: TaskFieldsFragment | undefined;
  let cancelling = false;
  process.on("SIGINT", () => {
    if (cancelling || !task) process.exit(130);
    cancelling = true;
    process.stderr.write("\ncancelling… (Ctrl-C again to quit)\n");
    single(client, CancelTaskDocument, { id: task.id }).catch((error: unknown) =>
      console.error(`cancel failed: ${explain(error)}`),
    );
  });

  const tty = process.stdout.isTTY;
  try {
    task = (await single(client, SubmitTaskDocument, { input })).submitTask;
    console.log(`submitted ${task.kind} ${task.id} to ${url}`);
    for await (const event of operation(client, TaskProgressDocument, { id: task.id })) {
      task = event.taskProgress;
      // On a terminal, one line redrawn in place; in a log, one line per event.
      if (tty) process.stdout.write(`\r${progressBar(task)}\x1b[K`);
      else console.log(progressBar(task));
    }
    if (tty) process.stdout.write("\n");
  } catch (error) {
    console.error(`${tty ? "\n" : ""}${explain(error)}`);
    return 1;
  } finally {
    await client.dispose();
  }
  if (!TERMINAL.has(task.status)) {
    console.error(`the subscription ended while the task was ${task.status}`);
    return 1;
  }
  console.log(describe(task));
  return task.status === "SUCCEEDED" ? 0 : 1;
}

process.exitCode = await main();
