// Copies the files the GraphiQL page loads out of node_modules into dist/, under the
// names project/ide.py serves them by. `make install` runs it after `npm ci`.
// Source-map comments are dropped: the maps are not served.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const FILES = {
  "react.js": "react/umd/react.production.min.js",
  "react-dom.js": "react-dom/umd/react-dom.production.min.js",
  "graphql-ws.js": "graphql-ws/umd/graphql-ws.min.js",
  "graphiql.js": "graphiql/graphiql.min.js",
  "graphiql.css": "graphiql/graphiql.min.css",
};
const SOURCE_MAP = /\n?\/[/*]# sourceMappingURL=\S+?(\s*\*\/)?\s*$/;
// GraphiQL's dialogs and menus insert <style> elements (react-style-singleton), with the
// nonce webpack holds; the page's Content-Security-Policy allows styles with the nonce it
// puts in <meta name="csp-nonce">, so the bundle starts with that one.
const NONCE = {
  file: "graphiql.js",
  from: "__webpack_require__.nc = undefined;",
  to: '__webpack_require__.nc = document.querySelector(\'meta[name="csp-nonce"]\')?.content;',
};

const dist = join(here, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
for (const [name, source] of Object.entries(FILES)) {
  let text = readFileSync(join(here, "node_modules", source), "utf8").replace(SOURCE_MAP, "\n");
  if (name === NONCE.file) {
    if (text.split(NONCE.from).length !== 2) {
      throw new Error(`${source}: expected ${NONCE.from} once (GraphiQL changed?)`);
    }
    text = text.replace(NONCE.from, NONCE.to);
  }
  writeFileSync(join(dist, name), text);
}
console.log(`GraphiQL assets: ${Object.keys(FILES).join(", ")} in ${dist}`);
