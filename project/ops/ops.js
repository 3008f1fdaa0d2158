// Atelier operations page: follows `operationsUpdates` over the graphql-transport-ws
// protocol (as the demo page follows a task) and cancels tasks with `cancelAnyTask`
// over HTTP. Everything it shows is written with textContent: owners, stages and
// error codes come from callers.

import { LiveFeed } from "/pagekit/livefeed.js";
import { request } from "/pagekit/request.js";

const MINUTES = 15;
// Every operation the page sends is in one GraphQL document in index.html, where the
// server reads it too (see the demo page): each request names its operation.
const DOCUMENT = document.getElementById("graphql").textContent;
const UPDATES = { query: DOCUMENT, operationName: "Ops" };
const CANCEL_ANY = { query: DOCUMENT, operationName: "CancelAny" };

const KEY_STORAGE = "atelier.adminKey";
const MESSAGES = {
  FORBIDDEN:
    "This key is not an admin key: the operations page needs one named in ATELIER_ADMIN_KEYS.",
  UNAUTHENTICATED: "The server does not know this key.",
};
const STALE_AFTER_S = 30; // a heartbeat older than this is shown as a warning

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(message, code) {
    super(MESSAGES[code] ?? message);
    this.code = code;
  }
}

function authorization() {
  const key = $("admin-key").value.trim();
  return key ? `Bearer ${key}` : null;
}

async function graphql(operation, variables) {
  const headers = { "Content-Type": "application/json" };
  const auth = authorization();
  if (auth) headers.Authorization = auth;
  const body = JSON.stringify({ ...operation, variables });
  return request(body, headers, (message, code) => new ApiError(message, code));
}

// -- rendering ------------------------------------------------------------------------

function cell(row, text, className = "") {
  const td = row.insertCell();
  td.textContent = text ?? "";
  if (className) td.className = className;
  return td;
}

function codeCell(row, text) {
  const td = row.insertCell();
  const code = document.createElement("code");
  code.textContent = text;
  td.append(code);
  return td;
}

/** Fills a table's body with one row per item, or one row saying there is none. */
function fill(tableId, items, columns, emptyText, addRow) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren();
  if (items.length === 0) {
    const td = cell(body.insertRow(), emptyText, "empty");
    td.colSpan = columns;
    return;
  }
  for (const item of items) addRow(body.insertRow(), item);
}

function showQueues(queues) {
  fill("queues", queues, 7, "No queues.", (row, queue) => {
    row.dataset.queue = queue.name;
    codeCell(row, queue.name);
    cell(row, queue.depth, "num");
    cell(row, queue.delayed, "num");
    cell(row, queue.queuedTasks, "num");
    const by = Object.fromEntries(queue.byPriority.map((p) => [p.priority, p.queuedTasks]));
    for (const priority of ["HIGH", "NORMAL", "LOW"]) cell(row, by[priority] ?? 0, "num");
  });
}

function heartbeatAge(lastSeenAt) {
  return Math.max(0, Math.round((Date.now() - Date.parse(lastSeenAt)) / 1000));
}

function showHeartbeat(td) {
  const age = heartbeatAge(td.dataset.lastSeenAt);
  td.textContent = `${age} s ago`;
  td.classList.toggle("stale", age > STALE_AFTER_S);
}

function showWorkers(workers) {
  fill("workers", workers, 5, "No worker heard from recently.", (row, worker) => {
    row.dataset.worker = worker.id;
    const id = codeCell(row, worker.id);
    id.title = `queues: ${worker.queues.join(", ")}`;
    cell(row, worker.loadedModels.map((m) => `${m.kind.toLowerCase()}: ${m.name}`).join(", ") || "none");
    // Several when compatible tasks share one pipeline call (batching).
    const running = worker.currentTasks.map((task) => task.id);
    if (running.length) codeCell(row, running.join(", "));
    else cell(row, "idle", "muted");
    const heartbeat = cell(row, "", "num heartbeat");
    heartbeat.dataset.lastSeenAt = worker.lastSeenAt;
    showHeartbeat(heartbeat);
    cell(row, worker.stopping ? "stopping" : "running", worker.stopping ? "stopping" : "");
  });
}

const cancelling = new Set(); // ids whose cancel this page sent, until they leave the list

function showRunning(tasks) {
  const running = new Set(tasks.map((t) => t.id));
  for (const id of cancelling) if (!running.has(id)) cancelling.delete(id);
  fill("running", tasks, 6, "No task is running.", (row, task) => {
    row.dataset.taskId = task.id;
    codeCell(row, task.id);
    cell(row, task.owner);
    cell(row, task.kind);
    const step = task.totalSteps ? ` (${task.step ?? 0} of ${task.totalSteps})` : "";
    cell(row, `${task.stage ?? ""}${step}`);
    const progressCell = row.insertCell();
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = task.progress;
    bar.setAttribute("aria-label", `Progress of task ${task.id}`);
    const percent = document.createElement("span");
    percent.className = "percent";
    percent.textContent = `${Math.round(task.progress * 100)}%`;
    progressCell.append(bar, percent);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "danger cancel";
    button.dataset.taskId = task.id;
    button.textContent = task.cancelRequested ? "Cancelling…" : "Cancel";
    button.disabled = task.cancelRequested || cancelling.has(task.id);
    button.setAttribute("aria-label", `Cancel task ${task.id}`);
    row.insertCell().append(button);
  });
}

function showFailures(failures) {
  fill("failures", failures, 3, `No failures in the last ${MINUTES} minutes.`, (row, f) => {
    row.dataset.code = f.code;
    codeCell(row, f.code);
    cell(row, f.kind);
    cell(row, f.count, "num");
  });
}

const SVG = "http://www.w3.org/2000/svg";

function showThroughput(minutes) {
  const chart = $("sparkline");
  chart.replaceChildren();
  const ended = (m) => m.succeeded + m.failed + m.cancelled;
  const most = Math.max(1, ...minutes.map(ended));
  const width = 150 / Math.max(1, minutes.length);
  minutes.forEach((minute, i) => {
    const bars = [
      ["ok", minute.succeeded + minute.cancelled],
      ["failed", minute.failed],
    ];
    let top = 40;
    for (const [kind, count] of bars) {
      if (count === 0) continue;
      const height = (count / most) * 38;
      top -= height;
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", String(i * width + 1));
      rect.setAttribute("y", String(top));
      rect.setAttribute("width", String(Math.max(1, width - 2)));
      rect.setAttribute("height", String(height));
      rect.setAttribute("class", kind);
      const title = document.createElementNS(SVG, "title");
      const at = new Date(minute.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      title.textContent = `${at}: ${minute.succeeded} succeeded, ${minute.failed} failed, ${minute.cancelled} cancelled`;
      rect.append(title);
      chart.append(rect);
    }
  });
  const sum = (field) => minutes.reduce((total, m) => total + m[field], 0);
  const total = minutes.reduce((t, m) => t + ended(m), 0);
  const last = minutes.at(-1);
  const text = $("throughput");
  text.dataset.succeeded = sum("succeeded");
  text.dataset.failed = sum("failed");
  text.dataset.cancelled = sum("cancelled");
  text.textContent =
    `${total} ended (${sum("succeeded")} succeeded, ${sum("failed")} failed, ` +
    `${sum("cancelled")} cancelled); this minute: ${last ? ended(last) : 0}.`;
}

function showView(view) {
  showQueues(view.queues);
  showWorkers(view.workers);
  showRunning(view.runningTasks);
  showFailures(view.recentFailures);
  showThroughput(view.throughput);
  const at = new Date().toLocaleTimeString();
  setState("live", `Live; updated ${at}.`);
  document.body.dataset.updates = String(Number(document.body.dataset.updates ?? 0) + 1);
}

function setState(state, text) {
  $("connection").dataset.state = state;
  $("connection").textContent = text;
}

function showError(error) {
  const box = $("error");
  box.dataset.code = error.code;
  box.textContent = error.message;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").dataset.code = "";
}

// -- actions --------------------------------------------------------------------------

let feed = null;

function connect(event) {
  event?.preventDefault();
  feed?.close();
  clearError();
  if (!authorization()) {
    setState("idle", "Not connected.");
    showError(new ApiError("Enter an admin key to see the operations view.", "NO_KEY"));
    return;
  }
  // The view now, then again as it changes; reconnects when the socket drops.
  feed = new LiveFeed({
    payload: UPDATES,
    authorization,
    onData: ({ operationsUpdates }) => {
      if (operationsUpdates) showView(operationsUpdates);
      return false; // never done: the view goes on
    },
    onState: setState,
    onError: (message, code) => {
      setState("refused", "Not connected.");
      showError(new ApiError(message, code));
    },
  });
}

async function cancel(event) {
  const button = event.target.closest("button.cancel");
  if (!button) return;
  const id = button.dataset.taskId;
  button.disabled = true;
  button.textContent = "Cancelling…";
  cancelling.add(id);
  try {
    await graphql(CANCEL_ANY, { id });
  } catch (error) {
    cancelling.delete(id);
    button.disabled = false;
    button.textContent = "Cancel";
    showError(error);
  }
}

$("admin-key").value = sessionStorage.getItem(KEY_STORAGE) ?? "";
$("admin-key").addEventListener("input", () => {
  sessionStorage.setItem(KEY_STORAGE, $("admin-key").value.trim());
});
$("key-form").addEventListener("submit", connect);
$("running").addEventListener("click", cancel);
// Heartbeat ages move on between updates.
setInterval(() => document.querySelectorAll("td.heartbeat").forEach(showHeartbeat), 1000);
if (authorization()) connect();
document.body.dataset.ready = "true";
