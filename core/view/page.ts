// The self-contained HTML page of `graph view`: the view as JSON, the layout library
// (cytoscape, its minified build from the installed package) and the page's script, all
// inline. Its Content-Security-Policy lets nothing be loaded from anywhere (scripts only
// by their hashes; fetches only from the page's own server, and only when live).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { GraphView } from "./neighbourhood.js";
import { PAGE_SCRIPT, PAGE_STYLE } from "./page-script.js";

let cytoscapeSource: string | undefined;

/** cytoscape's minified UMD build, as installed (read once). */
function cytoscape(): string {
  cytoscapeSource ??= readFileSync(createRequire(import.meta.url).resolve("cytoscape/dist/cytoscape.min.js"), "utf8");
  return cytoscapeSource;
}

export interface PageOptions {
  /** The page polls this path (on its own server) for the view as JSON, once a second. */
  liveUrl?: string;
}

/** The view as the page reads it; `<` escaped so that no value can end the script element. */
export function viewJson(view: GraphView): string {
  return JSON.stringify(view)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

let scriptHashes: string | undefined;

export function contentSecurityPolicy(options: PageOptions): string {
  const hash = (s: string): string => `'sha256-${createHash("sha256").update(s, "utf8").digest("base64")}'`;
  scriptHashes ??= `${hash(cytoscape())} ${hash(PAGE_SCRIPT)}`;
  return [
    "default-src 'none'",
    `script-src ${scriptHashes}`,
    // Inline styles only (cytoscape adds a style element): nothing a style could fetch is allowed.
    "style-src 'unsafe-inline'",
    `connect-src ${options.liveUrl ? "'self'" : "'none'"}`,
    "img-src 'none'",
    "font-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}

export function renderPage(view: GraphView, options: PageOptions = {}): string {
  const target = view.nodes.find((n) => n.key === view.target);
  const title = `kube-observer: ${target?.label ?? view.target}`;
  const config = JSON.stringify({ liveUrl: options.liveUrl ?? null });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttribute(contentSecurityPolicy(options))}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeText(title)}</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<header><h1 id="title"></h1><p id="summary"></p><p id="note" hidden></p><p id="live" hidden></p></header>
<div id="cy"></div>
<div id="tip" hidden></div>
<script type="application/json" id="graph-data">${viewJson(view)}</script>
<script type="application/json" id="page-config">${config.replace(/</g, "\\u003c")}</script>
<script>${cytoscape()}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

function escapeText(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function escapeAttribute(s: string): string {
  return escapeText(s).replace(/"/g, "&quot;");
}
