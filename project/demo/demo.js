// Atelier demo page: submits a task over GraphQL (HTTP POST /graphql) and follows it
// over the graphql-transport-ws protocol, as any client of the public API would.

const TASK_FIELDS = `fragment TaskFields on Task {
  id kind status progress stage step totalSteps queuePosition sequence cancelRequested
  error { code message }
  preview { width height url }
  result { seed promptUsed image { width height url } }
}`;
const SUBMIT = `${TASK_FIELDS}
mutation Submit($input: SubmitTaskInput!) { submitTask(input: $input) { ...TaskFields } }`;
const CANCEL = `${TASK_FIELDS}
mutation Cancel($id: ID!) { cancelTask(id: $id) { ...TaskFields } }`;
const PROGRESS = `${TASK_FIELDS}
subscription Follow($id: ID!) { taskProgress(id: $id) { ...TaskFields } }`;

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
const KEY_STORAGE = "atelier.apiKey";
// Close codes after which reconnecting cannot help.
const REFUSALS = { 4400: "BAD_REQUEST", 4403: "UNAUTHENTICATED", 4429: "RATE_LIMITED" };
const MAX_RECONNECTS = 5;

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(message, code, field = null) {
    super(message);
    this.code = code;
    this.field = field;
  }
}

function authorization() {
  const key = $("api-key").value.trim();
  return key ? `Bearer ${key}` : null;
}

async function graphql(query, variables) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const auth = authorization();
  if (auth) headers.Authorization = auth;
  let response;
  try {
    const body = JSON.stringify({ query, variables });
    response = await fetch("/graphql", { method: "POST", headers, body });
  } catch {
    throw new ApiError("The server could not be reached.", "NETWORK_ERROR");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status}.`, `HTTP_${response.status}`);
  }
  const [error] = body.errors ?? [];
  if (error) {
    const extensions = error.extensions ?? {};
    throw new ApiError(error.message, extensions.code ?? "ERROR", extensions.field ?? null);
  }
  return body.data;
}

/** Follows one task until its terminal event; reconnects (and so re-subscribes, getting
 *  the current state first) when the socket drops before that. */
class TaskFeed {
  constructor(taskId, { onTask, onError }) {
    this.taskId = taskId;
    this.onTask = onTask;
    this.onError = onError;
    this.reconnects = 0;
    this.finished = false;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.socket = new WebSocket(`${scheme}//${location.host}/graphql`, "graphql-transport-ws");
    this.socket.onopen = () => {
      const auth = authorization();
      this.send({ type: "connection_init", payload: auth ? { Authorization: auth } : {} });
    };
    this.socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    this.socket.onclose = (event) => this.closed(event);
  }

  send(message) {
    this.socket.send(JSON.stringify(message));
  }

  receive(message) {
    switch (message.type) {
      case "connection_ack":
        this.reconnects = 0;
        this.send({
          id: "progress",
          type: "subscribe",
          payload: { query: PROGRESS, variables: { id: this.taskId } },
        });
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next": {
        const { data, errors } = message.payload;
        if (errors?.length) this.fail(errors[0]);
        else if (data?.taskProgress) this.onTask(data.taskProgress);
        if (TERMINAL.has(data?.taskProgress?.status)) this.finished = true;
        break;
      }
      case "error":
        this.fail(message.payload[0] ?? { message: "The subscription failed." });
        break;
      case "complete":
        this.close();
        break;
    }
  }

  fail(error) {
    const code = error.extensions?.code ?? "ERROR";
    this.close();
    this.onError(new ApiError(error.message, code));
  }

  closed(event) {
    if (this.finished) return;
    if (event.code in REFUSALS || this.reconnects >= MAX_RECONNECTS) {
      const reason = event.reason || "The live connection to the server was lost.";
      this.finished = true;
      this.onError(new ApiError(reason, REFUSALS[event.code] ?? "DISCONNECTED"));
      return;
    }
    // 1001: the web node is shutting down; others: the network. Any node will do.
    const delay = Math.min(500 * 2 ** this.reconnects, 8000);
    this.reconnects += 1;
    this.retry = setTimeout(() => this.connect(), delay);
  }

  close() {
    this.finished = true;
    clearTimeout(this.retry);
    if (this.socket.readyState <= WebSocket.OPEN) this.socket.close(1000);
  }
}

function readFile(id) {
  const file = $(id).files[0];
  if (!file) return Promise.reject(new ApiError("Choose an image file.", "BAD_USER_INPUT"));
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new ApiError(`Could not read ${file.name}.`, "FILE_ERROR"));
    reader.readAsDataURL(file);
  });
}

const text = (id) => $(id).value.trim() || null;
const number = (id) => ($(id).value.trim() === "" ? null : Number($(id).value));
const checked = (id) => $(id).checked;

async function taskInput(kind) {
  switch (kind) {
    case "IMAGE_GENERATION":
      return {
        imageGeneration: {
          prompt: $("prompt").value,
          negativePrompt: text("negative-prompt"),
          width: number("width"),
          height: number("height"),
          steps: number("steps"),
          guidanceScale: number("guidance"),
          seed: number("seed"),
          style: text("style"),
          model: text("image-model"),
          refinePrompt: checked("refine-prompt"),
          previews: checked("previews"),
        },
      };
    case "BACKGROUND_REMOVAL":
      return {
        backgroundRemoval: {
          image: await readFile("cutout-image"),
          model: text("cutout-model"),
          alphaMatting: checked("alpha-matting"),
          onlyMask: checked("only-mask"),
        },
      };
    case "FACE_SWAP": {
      const [sourceImage, targetImage] = await Promise.all([
        readFile("source-image"),
        readFile("target-image"),
      ]);
      const faceSwap = { sourceImage, targetImage, sourceFaceIndex: number("source-face") };
      return { faceSwap: { ...faceSwap, targetFaceIndex: number("target-face") } };
    }
  }
  throw new ApiError(`Unknown task kind ${kind}.`, "BAD_USER_INPUT");
}

const STATUS_TEXT = {
  QUEUED: (t) => (t.queuePosition ? `Queued, position ${t.queuePosition}` : "Queued"),
  RUNNING: (t) => (t.cancelRequested ? "Stopping at the next step…" : "Running"),
  SUCCEEDED: () => "Done",
  FAILED: () => "Failed",
  CANCELLED: () => "Cancelled",
};

let shown = null; // the task on screen
let feed = null;

function showTask(task) {
  // Replies to submit and cancel race the feed: keep only the newest state.
  if (shown && shown.id === task.id && task.sequence < shown.sequence) return;
  shown = task;
  const terminal = TERMINAL.has(task.status);
  $("task").hidden = false;
  $("task-id").textContent = task.id;
  $("progress").value = task.progress;
  $("percent").textContent = `${Math.floor(task.progress * 100)}%`;
  $("status").textContent = STATUS_TEXT[task.status](task);
  $("status").dataset.status = task.status;
  $("stage").textContent = task.stage ?? "—";
  $("step").textContent = task.totalSteps ? `${task.step ?? 0} of ${task.totalSteps}` : "—";

  if (task.preview && task.status !== "SUCCEEDED") {
    // A preview keeps its link while it changes: the sequence makes each one a new URL.
    const url = `${task.preview.url}&v=${task.sequence}`;
    if ($("preview").getAttribute("src") !== url) $("preview").src = url;
    $("preview-figure").hidden = false;
  } else if (task.status === "SUCCEEDED") {
    $("preview-figure").hidden = true;
  }

  if (task.result) {
    const { image, seed } = task.result;
    $("result").src = image.url;
    $("download").href = image.url;
    $("download").download = `atelier-${task.id}.png`;
    const details = [`${image.width}×${image.height}`];
    if (seed !== null) details.push(`seed ${seed}`);
    if (task.result.promptUsed) details.push(`prompt: “${task.result.promptUsed}”`);
    $("result-info").textContent = details.join(" · ");
    $("result-figure").hidden = false;
  }

  if (task.error) {
    showError(new ApiError(task.error.message, task.error.code), task.status === "CANCELLED");
  }
  $("submit").disabled = !terminal;
  $("cancel").disabled = terminal || task.cancelRequested;
}

function showError(error, quiet = false) {
  const box = $("error");
  box.textContent = `${error.code}: ${error.message}`;
  box.dataset.code = error.code;
  box.classList.toggle("quiet", quiet);
  box.hidden = false;
  if (error.field) {
    const input = document.querySelector(`[data-field="${error.field.replace(/^input\./, "")}"]`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
  delete $("error").dataset.code;
  for (const input of document.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
  }
}

function reset() {
  feed?.close();
  feed = null;
  shown = null;
  for (const id of ["preview", "result", "download"]) {
    $(id).removeAttribute(id === "download" ? "href" : "src");
  }
  $("preview-figure").hidden = true;
  $("result-figure").hidden = true;
}

function chooseKind() {
  for (const fieldset of document.querySelectorAll("fieldset[data-kind]")) {
    const active = fieldset.dataset.kind === $("kind").value;
    fieldset.hidden = !active;
    fieldset.disabled = !active; // so hidden fields are neither validated nor read
  }
}

async function submit(event) {
  event.preventDefault();
  clearError();
  reset();
  $("submit").disabled = true;
  try {
    const { submitTask } = await graphql(SUBMIT, { input: await taskInput($("kind").value) });
    showTask(submitTask);
    feed = new TaskFeed(submitTask.id, {
      onTask: showTask,
      onError: (error) => {
        showError(error);
        $("submit").disabled = false;
      },
    });
  } catch (error) {
    showError(error instanceof ApiError ? error : new ApiError(String(error), "ERROR"));
    $("submit").disabled = false;
  }
}

async function cancel() {
  if (!shown) return;
  $("cancel").disabled = true;
  try {
    showTask((await graphql(CANCEL, { id: shown.id })).cancelTask);
  } catch (error) {
    showError(error);
    $("cancel").disabled = false;
  }
}

$("api-key").value = sessionStorage.getItem(KEY_STORAGE) ?? "";
$("api-key").addEventListener("input", () => {
  sessionStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
});
$("kind").addEventListener("change", chooseKind);
$("task-form").addEventListener("submit", submit);
$("cancel").addEventListener("click", cancel);
chooseKind();
document.body.dataset.ready = "true";
