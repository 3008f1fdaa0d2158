// Atelier demo page: submits a task over GraphQL (HTTP POST /graphql; the chosen
// images as file parts of a GraphQL multipart request) and follows it over the
// graphql-transport-ws protocol, as any client of the public API would.

import { LiveFeed } from "/pagekit/livefeed.js";
import { request } from "/pagekit/request.js";

// Every operation the page sends is in one GraphQL document in index.html, where the
// server reads it too: a server that runs only trusted documents
// (ATELIER_TRUSTED_DOCUMENTS) trusts those of the pages it serves. Each request sends
// that document and names its operation.
const DOCUMENT = document.getElementById("graphql").textContent;
const SUBMIT = { query: DOCUMENT, operationName: "Submit" };
const CANCEL = { query: DOCUMENT, operationName: "Cancel" };
const PROGRESS = { query: DOCUMENT, operationName: "Follow" };

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
// Each kind's field of SubmitTaskInput.
const INPUT_KEYS = {
  IMAGE_GENERATION: "imageGeneration",
  IMAGE_TO_IMAGE: "imageToImage",
  INPAINTING: "inpainting",
  BACKGROUND_REMOVAL: "backgroundRemoval",
  FACE_SWAP: "faceSwap",
};
// What strength is until the user sets it: the API's defaults.
const DEFAULT_STRENGTH = { IMAGE_TO_IMAGE: "0.6", INPAINTING: "1" };
const KEY_STORAGE = "atelier.apiKey";
// Close codes after which reconnecting cannot help.

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(message, code, field = null) {
    super(message);
    this.code = code;
    this.field = field; // the API's path of the input at fault
    this.input = null; // or the id of the page's control at fault
  }
}

function authorization() {
  const key = $("api-key").value.trim();
  return key ? `Bearer ${key}` : null;
}

/** The variables with each File or Blob in them replaced by null, and the files with
 *  the paths they were at ("variables.input.inpainting.maskFile"); a file at several
 *  paths is listed once. */
function extractFiles(variables) {
  const files = new Map();
  const walk = (value, path) => {
    if (value instanceof Blob) {
      files.set(value, [...(files.get(value) ?? []), path]);
      return null;
    }
    if (Array.isArray(value)) return value.map((item, index) => walk(item, `${path}.${index}`));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => [key, walk(item, `${path}.${key}`)]),
      );
    }
    return value;
  };
  return { variables: walk(variables, "variables"), files };
}

/** The request's body: JSON text, or when the variables hold files a GraphQL multipart
 *  request (github.com/jaydenseric/graphql-multipart-request-spec): the operation with
 *  null for each file, the map of parts to paths, then the files. */
function requestBody(operation, variables) {
  const extracted = extractFiles(variables);
  if (extracted.files.size === 0) return JSON.stringify({ ...operation, variables });
  const form = new FormData();
  form.append("operations", JSON.stringify({ ...operation, variables: extracted.variables }));
  const parts = [...extracted.files];
  form.append("map", JSON.stringify(Object.fromEntries(parts.map(([, paths], i) => [i, paths]))));
  parts.forEach(([file], i) => form.append(String(i), file, file.name ?? "mask.png"));
  return form;
}

async function graphql(operation, variables) {
  const body = requestBody(operation, variables);
  const headers = {};
  // A form gets its type from fetch, with its boundary. A multipart request must carry
  // a header that a cross-site form cannot (CSRF): Authorization, when a key is given,
  // or this one, which lets the page upload to a server without keys too.
  if (typeof body === "string") headers["Content-Type"] = "application/json";
  else headers["GraphQL-Require-Preflight"] = "1";
  const auth = authorization();
  if (auth) headers.Authorization = auth;
  return request(body, headers, (message, code, field) => new ApiError(message, code, field));
}

/** The API's path of the field an input of the page gives ("input.imageToImage.image"). */
function fieldPath(id) {
  return `input.${INPUT_KEYS[$("kind").value]}.${$(id).dataset.field}`;
}

/** The file chosen in a file input, sent as it is (a file part). */
function chosenFile(id) {
  const file = $(id).files[0];
  if (!file) throw new ApiError("Choose an image file.", "BAD_USER_INPUT", fieldPath(id));
  return file;
}

const text = (id) => $(id).value.trim() || null;
const number = (id) => ($(id).value.trim() === "" ? null : Number($(id).value));
const checked = (id) => $(id).checked;

/** The fields text to image, image to image and inpainting share. */
function diffusionInput() {
  return {
    prompt: $("prompt").value,
    negativePrompt: text("negative-prompt"),
    steps: number("steps"),
    guidanceScale: number("guidance"),
    seed: number("seed"),
    numImages: number("num-images"),
    scheduler: text("scheduler"),
    style: text("style"),
    model: text("image-model"),
    refinePrompt: checked("refine-prompt"),
    previews: checked("previews"),
  };
}

async function taskInput(kind) {
  switch (kind) {
    case "IMAGE_GENERATION":
      return {
        imageGeneration: { ...diffusionInput(), width: number("width"), height: number("height") },
      };
    case "IMAGE_TO_IMAGE":
      return {
        imageToImage: {
          ...diffusionInput(),
          imageFile: chosenFile("edit-image"),
          strength: number("strength"),
        },
      };
    case "INPAINTING": {
      const imageFile = chosenFile("edit-image");
      const maskFile = await maskImage();
      return {
        inpainting: { ...diffusionInput(), imageFile, maskFile, strength: number("strength") },
      };
    }
    case "BACKGROUND_REMOVAL":
      return {
        backgroundRemoval: {
          imageFile: chosenFile("cutout-image"),
          model: text("cutout-model"),
          alphaMatting: checked("alpha-matting"),
          onlyMask: checked("only-mask"),
        },
      };
    case "FACE_SWAP": {
      const sourceImageFile = chosenFile("source-image");
      const targetImageFile = chosenFile("target-image");
      const faceSwap = { sourceImageFile, targetImageFile, sourceFaceIndex: number("source-face") };
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
let shownImages = null; // the links of the result's images on screen

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

  if (task.result) showResult(task);

  if (task.error) {
    showError(new ApiError(task.error.message, task.error.code), task.status === "CANCELLED");
  }
  $("submit").disabled = !terminal;
  $("cancel").disabled = terminal || task.cancelRequested;
}

/** Every image of the result, each in its figure with a download link: the first in
 *  #result-figure, the others in copies of it after it. */
function showResult(task) {
  const { images, seeds, seed, promptUsed } = task.result;
  const links = images.map((image) => image.url).join(" ");
  if (links === shownImages) return;
  removeExtraResults();
  shownImages = links;
  const many = images.length > 1;
  let previous = $("result-figure");
  images.forEach((image, index) => {
    const figure = index === 0 ? previous : copyOf(previous);
    if (index > 0) previous.after(figure);
    previous = figure;
    const img = figure.querySelector("img");
    img.src = image.url;
    img.alt = many ? `Result of the task, image ${index + 1} of ${images.length}` : "Result of the task";
    const link = figure.querySelector("a");
    link.href = image.url;
    link.download = many ? `atelier-${task.id}-${index + 1}.png` : `atelier-${task.id}.png`;
    const details = many ? [`${index + 1} of ${images.length}`] : [];
    details.push(`${image.width}×${image.height}`);
    const imageSeed = seeds?.[index] ?? (index === 0 ? seed : null);
    if (imageSeed !== null && imageSeed !== undefined) details.push(`seed ${imageSeed}`);
    if (index === 0 && promptUsed) details.push(`prompt: “${promptUsed}”`);
    figure.querySelector(".result-info").textContent = details.join(" · ");
    figure.hidden = false;
  });
}

/** A result figure for another image: the first one's markup without its ids. */
function copyOf(figure) {
  const copy = figure.cloneNode(true);
  for (const element of [copy, ...copy.querySelectorAll("[id]")]) element.removeAttribute("id");
  copy.classList.add("extra");
  return copy;
}

function removeExtraResults() {
  for (const figure of document.querySelectorAll(".result-figure.extra")) figure.remove();
  shownImages = null;
}

/** The control of the page that gives an API field ("input.inpainting.mask", or its
 *  file part "input.inpainting.maskFile"), among those of the kind chosen. */
function fieldElement(field) {
  const name = field.replace(/^input\.[^.]+\./, "").replace(/File$/, "");
  const candidates = document.querySelectorAll(`[data-field="${CSS.escape(name)}"]`);
  return [...candidates].find((element) => !element.closest("fieldset[disabled], [hidden]"));
}

function showError(error, quiet = false) {
  const box = $("error");
  box.textContent = `${error.code}: ${error.message}`;
  box.dataset.code = error.code;
  box.classList.toggle("quiet", quiet);
  box.hidden = false;
  if (error.field || error.input) {
    const input = error.input ? $(error.input) : fieldElement(error.field);
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
  removeExtraResults();
  $("preview-figure").hidden = true;
  $("result-figure").hidden = true;
}

function chooseKind() {
  const kind = $("kind").value;
  for (const part of document.querySelectorAll("[data-kinds]")) {
    const active = part.dataset.kinds.split(" ").includes(kind);
    part.hidden = !active;
    // So that hidden fields are neither validated nor read.
    if (part instanceof HTMLFieldSetElement) part.disabled = !active;
    else for (const input of part.querySelectorAll("input, select")) input.disabled = !active;
  }
  if (kind in DEFAULT_STRENGTH && !$("strength").dataset.touched) {
    setStrength(DEFAULT_STRENGTH[kind]);
  }
}

function setStrength(value) {
  $("strength").value = value;
  $("strength-slider").value = value;
}

/* The mask of an inpainting: painted on a canvas of the image's size laid over the
 * image. The canvas holds the paint (its alpha is the mask); the mask sent is white
 * where painted, black elsewhere. A mask file is loaded into the canvas the same way. */

const mask = {
  canvas: $("mask-canvas"),
  context: $("mask-canvas").getContext("2d", { willReadFrequently: true }),
  last: null, // where the brush was, while a pointer is down
  paint: "rgb(255, 64, 129)", // shown at half opacity over the image
};

/** Shows the picked image; for inpainting, with a blank mask of its size over it. */
async function pickEditImage() {
  const file = $("edit-image").files[0];
  const picture = $("edit-picture");
  if (picture.src) URL.revokeObjectURL(picture.src);
  picture.removeAttribute("src");
  $("picture").hidden = true;
  $("mask-tools").hidden = true;
  clearMask();
  if (!file) return;
  picture.src = URL.createObjectURL(file);
  try {
    await picture.decode();
  } catch {
    showError(new ApiError(`Could not read ${file.name} as an image.`, "FILE_ERROR"));
    return;
  }
  // The size as seen (upright): what the API checks the mask against.
  mask.canvas.width = picture.naturalWidth;
  mask.canvas.height = picture.naturalHeight;
  $("picture").hidden = false;
  $("mask-tools").hidden = false;
  $("mask-hint").textContent =
    `Paint over the part to repaint (${picture.naturalWidth}×${picture.naturalHeight}): ` +
    "the rest is kept as it is.";
  if ($("mask-file").files[0]) await loadMaskFile();
}

function clearMask() {
  mask.context.clearRect(0, 0, mask.canvas.width, mask.canvas.height);
}

/** Where a pointer event falls, in the image's pixels. */
function maskPoint(event) {
  const box = mask.canvas.getBoundingClientRect();
  return {
    x: ((event.clientX - box.left) * mask.canvas.width) / box.width,
    y: ((event.clientY - box.top) * mask.canvas.height) / box.height,
  };
}

function brush(from, to) {
  const box = mask.canvas.getBoundingClientRect();
  // The brush's size is in the page's pixels, whatever the image's scale on screen.
  const width = (Number($("brush-size").value) * mask.canvas.width) / box.width;
  const context = mask.context;
  context.fillStyle = context.strokeStyle = mask.paint;
  context.lineWidth = width;
  context.lineCap = context.lineJoin = "round";
  context.beginPath();
  context.arc(to.x, to.y, width / 2, 0, 2 * Math.PI);
  context.fill();
  context.beginPath();
  context.moveTo(from.x, from.y);
  context.lineTo(to.x, to.y);
  context.stroke();
}

/** Every pixel's alpha through `alpha(old, index)`, painted in the mask's colour. */
function remapMask(alpha) {
  const { width, height } = mask.canvas;
  const pixels = mask.context.getImageData(0, 0, width, height);
  const [r, g, b] = mask.paint.match(/\d+/g).map(Number);
  const data = pixels.data;
  for (let i = 0; i < data.length; i += 4) {
    data[i + 3] = alpha(data[i + 3], i);
    data[i] = r;
    data[i + 1] = g;
    data[i + 2] = b;
  }
  mask.context.putImageData(pixels, 0, 0);
}

/** The picked mask file, if its size is the image's, loaded as the mask (its lightness
 *  as the paint). */
async function loadMaskFile() {
  const file = $("mask-file").files[0];
  if (!file || $("picture").hidden) return;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    showError(new ApiError(`Could not read ${file.name} as an image.`, "FILE_ERROR"));
    return;
  }
  const { width, height } = mask.canvas;
  if (bitmap.width !== width || bitmap.height !== height) {
    const message =
      `the mask is ${bitmap.width}x${bitmap.height}, the image ${width}x${height}: ` +
      "they must be the same size";
    const error = new ApiError(message, "BAD_USER_INPUT");
    error.input = "mask-file";
    showError(error);
    return;
  }
  clearError();
  const scratch = new OffscreenCanvas(width, height).getContext("2d");
  scratch.drawImage(bitmap, 0, 0);
  const light = scratch.getImageData(0, 0, width, height).data;
  // Rec. 601 luma, as PIL's convert("L") reads it; a transparent pixel counts as black.
  const luma = (i) =>
    Math.round(((0.299 * light[i] + 0.587 * light[i + 1] + 0.114 * light[i + 2]) * light[i + 3]) / 255);
  remapMask((_, i) => luma(i));
}

/** The mask to send: a PNG Blob, white where painted, black elsewhere. A mask file
 *  that could not be loaded (another size) goes as it is, for the API to say why. */
async function maskImage() {
  const { width, height } = mask.canvas;
  const paint = $("picture").hidden ? null : mask.context.getImageData(0, 0, width, height);
  let painted = false;
  if (paint) {
    for (let i = 3; i < paint.data.length; i += 4) {
      const value = paint.data[i];
      if (value) painted = true;
      paint.data[i - 3] = paint.data[i - 2] = paint.data[i - 1] = value;
      paint.data[i] = 255;
    }
  }
  if (!painted) {
    if ($("mask-file").files[0]) return chosenFile("mask-file");
    const message = "Paint over the part of the image to repaint, or choose a mask file.";
    throw new ApiError(message, "BAD_USER_INPUT", fieldPath("picture"));
  }
  const out = document.createElement("canvas");
  out.width = width;
  out.height = height;
  out.getContext("2d").putImageData(paint, 0, 0);
  return new Promise((resolve, reject) => {
    out.toBlob((blob) => {
      if (blob) resolve(blob);
      else reject(new ApiError("Could not make the mask into a PNG.", "FILE_ERROR"));
    }, "image/png");
  });
}

mask.canvas.addEventListener("pointerdown", (event) => {
  if (event.button !== 0) return;
  event.preventDefault();
  mask.canvas.setPointerCapture(event.pointerId);
  if ($("picture").getAttribute("aria-invalid")) clearError(); // it said to paint
  mask.last = maskPoint(event);
  brush(mask.last, mask.last);
});
mask.canvas.addEventListener("pointermove", (event) => {
  if (!mask.last) return;
  const point = maskPoint(event);
  brush(mask.last, point);
  mask.last = point;
});
for (const name of ["pointerup", "pointercancel", "lostpointercapture"]) {
  mask.canvas.addEventListener(name, () => (mask.last = null));
}
$("brush-size").addEventListener("input", () => {
  $("brush-size-shown").textContent = `${$("brush-size").value} px`;
});
$("mask-clear").addEventListener("click", () => {
  clearMask();
  $("mask-file").value = "";
});
$("mask-invert").addEventListener("click", () => remapMask((alpha) => 255 - alpha));
$("mask-file").addEventListener("change", loadMaskFile);
$("edit-image").addEventListener("change", pickEditImage);
$("strength-slider").addEventListener("input", () => {
  $("strength").value = $("strength-slider").value;
  $("strength").dataset.touched = "true";
});
$("strength").addEventListener("input", () => {
  $("strength-slider").value = $("strength").value;
  $("strength").dataset.touched = "true";
});

async function submit(event) {
  event.preventDefault();
  clearError();
  reset();
  $("submit").disabled = true;
  try {
    const { submitTask } = await graphql(SUBMIT, { input: await taskInput($("kind").value) });
    showTask(submitTask);
    // Follows the task to its terminal event (see pagekit/livefeed.js).
    feed = new LiveFeed({
      payload: { ...PROGRESS, variables: { id: submitTask.id } },
      authorization,
      onData: ({ taskProgress }) => {
        if (taskProgress) showTask(taskProgress);
        return TERMINAL.has(taskProgress?.status);
      },
      onError: (message, code) => {
        showError(new ApiError(message, code));
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
if ($("edit-image").files[0]) pickEditImage(); // a file the browser kept on reload
document.body.dataset.ready = "true";
