// One run of the scenario over a client: every owner on one client (one socket),
// their tasks submitted over it, all of them followed at once, a foreign task
// subscribed to, each owner's myTasks beside them, some cancelled, each queried at the
// end. What every operation received goes into the report; tests/clients/test_ecosystem.py
// judges it.
import { SUBMIT, CANCEL, TASK, TASK_PROGRESS, MY_TASKS } from "./operations.mjs";
import { formatted, result } from "./errors.mjs";
import { countingWebSocket } from "./socket.mjs";

// Over HTTP, for a submit or cancel the socket failed: the rest of the scenario
// still runs, and the report keeps what the socket answered.
async function overHttp(httpUrl, key, query, variables) {
  try {
    const response = await fetch(httpUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    return result(await response.json());
  } catch (error) {
    return { data: null, errors: formatted(error) };
  }
}

// A promise settled within `seconds`, or a line in the report saying what never came.
async function within(seconds, promise, what, report) {
  let timer;
  const expired = new Promise((resolve) => {
    timer = setTimeout(() => resolve(false), seconds * 1000);
  });
  const settled = await Promise.race([promise.then(() => true), expired]);
  clearTimeout(timer);
  if (!settled) report.failures.push(`timed out after ${seconds} s waiting for ${what}`);
  return settled;
}

function follow(session, record) {
  let started, ended;
  const first = new Promise((resolve) => (started = resolve));
  const last = new Promise((resolve) => (ended = resolve));
  session.subscribe(TASK_PROGRESS, { id: record.task }, {
    next({ data, errors }) {
      if (data?.taskProgress) record.events.push(data.taskProgress);
      record.errors.push(...errors);
      started();
    },
    error(errors) {
      record.errors.push(...errors);
      record.errored = true;
      started();
      ended();
    },
    complete() {
      record.completed = true;
      started();
      ended();
    },
  });
  return { first, last };
}

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

// myTasks never completes: done once each of `ids` (tasks of the owner) has ended in it.
function followAll(session, record, ids) {
  let started, ended;
  const first = new Promise((resolve) => (started = resolve));
  const last = new Promise((resolve) => (ended = resolve));
  const done = () =>
    ids.every((id) => record.events.some((e) => e.id === id && TERMINAL.has(e.status)));
  session.subscribe(MY_TASKS, {}, {
    next({ data, errors }) {
      if (data?.myTasks) record.events.push(data.myTasks);
      record.errors.push(...errors);
      started();
      if (done()) ended();
    },
    error(errors) {
      record.errors.push(...errors);
      record.errored = true;
      started();
      ended();
    },
    complete() {
      record.completed = true;
      started();
      ended();
    },
  });
  return { first, last };
}

export async function run({ client, connect, protocol, plan, keys, url, httpUrl }) {
  const report = { client, protocol, sockets: {}, failures: [], operations: [] };
  const sessions = {};
  const timeout = plan.timeout ?? 240;
  try {
    for (const [owner, key] of Object.entries(keys)) {
      const counter = (report.sockets[owner] = { sockets: 0 });
      const WebSocket = countingWebSocket(counter);
      sessions[owner] = { key, client: await connect({ url, httpUrl, key, WebSocket }) };
    }
    const send = async (owner, kind, name, document, variables, pick) => {
      const { key, client: session } = sessions[owner];
      const socket = await session.execute(document, variables);
      const record = { owner, kind, name, socket, via: "socket", task: pick(socket.data) };
      if (record.task === null && kind !== "query") {
        record.via = "http";
        record.task = pick((await overHttp(httpUrl, key, document, variables)).data);
      }
      report.operations.push(record);
      return record;
    };

    // Submitted one after another, in the plan's order (the worker takes them so).
    const ids = {};
    for (const task of plan.tasks) {
      const pick = (data) => data?.submitTask?.id ?? null;
      const variables = { input: task.input };
      const record = await send(task.owner, "submit", task.name, SUBMIT, variables, pick);
      ids[task.name] = record.task;
    }

    // Every task followed by its owner, and the foreign ones by someone else, all at once.
    const followed = [];
    const subscriptions = [
      ...plan.tasks.map((task) => ({ owner: task.owner, name: task.name })),
      ...plan.foreign.map((entry) => ({ owner: entry.owner, name: entry.task })),
    ];
    for (const { owner, name } of subscriptions) {
      if (!ids[name]) continue;
      const record = {
        owner,
        kind: "subscription",
        name,
        task: ids[name],
        events: [],
        errors: [],
        completed: false,
        errored: false,
      };
      report.operations.push(record);
      followed.push(follow(sessions[owner].client, record));
    }
    // Each owner's myTasks on the same socket, done once every task of theirs that is
    // not cancelled ended (a cancelled one may have ended before it joined).
    for (const owner of Object.keys(sessions)) {
      const record = {
        owner,
        kind: "mytasks",
        name: owner,
        events: [],
        errors: [],
        completed: false,
        errored: false,
      };
      const awaited = plan.tasks
        .filter((task) => task.owner === owner && !task.cancel && ids[task.name])
        .map((task) => ids[task.name]);
      report.operations.push(record);
      followed.push(followAll(sessions[owner].client, record, awaited));
    }
    // Only once every subscription is live do the cancelled tasks (queued first, and
    // so holding the worker) end and let the others run.
    const firsts = Promise.all(followed.map((f) => f.first));
    await within(timeout, firsts, "every subscription's first message", report);
    for (const task of plan.tasks.filter((task) => task.cancel && ids[task.name])) {
      const pick = (data) => data?.cancelTask?.id ?? null;
      await send(task.owner, "cancel", task.name, CANCEL, { id: ids[task.name] }, pick);
    }
    const ends = Promise.all(followed.map((f) => f.last));
    await within(timeout, ends, "every subscription's end", report);

    // Each task read back by its owner, and the foreign ones by their subscriber.
    const reads = [
      ...plan.tasks.map((task) => ({ owner: task.owner, name: task.name })),
      ...plan.foreign.map((entry) => ({ owner: entry.owner, name: entry.task })),
    ];
    for (const { owner, name } of reads.filter(({ name }) => ids[name])) {
      const record = await send(owner, "query", name, TASK, { id: ids[name] }, () => ids[name]);
      record.data = record.socket.data?.task ?? null;
    }
  } catch (error) {
    report.failures.push(String(error?.stack ?? error));
  } finally {
    for (const { client: session } of Object.values(sessions)) {
      await within(30, Promise.resolve(session.close()), "the client to close", report);
    }
  }
  return report;
}
