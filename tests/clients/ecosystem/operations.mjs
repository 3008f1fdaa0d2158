// operations.graphql, one document per operation with the fragments it needs (Apollo
// wants one operation per document), as a frontend's build would hand them over.
import { readFileSync } from "node:fs";
import { Kind, parse, print } from "graphql";

const source = parse(readFileSync(new URL("./operations.graphql", import.meta.url), "utf8"));
const fragments = source.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
const operations = source.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);

const documents = Object.fromEntries(
  operations.map((operation) => [
    operation.name.value,
    print({ kind: Kind.DOCUMENT, definitions: [operation, ...fragments] }),
  ]),
);

export const SUBMIT = documents.SubmitTask;
export const CANCEL = documents.CancelTask;
export const TASK = documents.Task;
export const TASK_PROGRESS = documents.TaskProgress;
export const MY_TASKS = documents.MyTasks;

export const OPERATION_NAMES = new Map(
  Object.entries(documents).map(([name, text]) => [text, name]),
);
