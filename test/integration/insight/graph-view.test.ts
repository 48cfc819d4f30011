// `graph view` in a real browser: a Secret read by a pod (by volume and by env) and by a
// Deployment, the ServiceAccount they run as and the RBAC that lets it get secrets, observed
// into each sink; the page is opened in headless Chromium (Debian's, installed by
// scripts/browser/ensure.sh) and what cytoscape drew is read back from the page: the nodes
// and typed edges, each node inside the viewport, properties on hover, and no request to
// anywhere. Then --serve against a running agent: a pod added to the cluster appears on the
// open page without a reload. Screenshots go to test-results/ (paths printed).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { execFileSync } from "node:child_process";
import { get as httpGet } from "node:http";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { randomBytes } from "node:crypto";
import { chromium, type Browser, type Page } from "playwright-core";
import { AgentProcess, repoRoot } from "../../support/agent.js";
import { adminKubeConfig, createNamespace, deleteNamespaces, eventually } from "../../support/cluster.js";
import { wipeNeo4j, workspace, type SinkKind, type Workspace } from "../../support/graph.js";

const kc = adminKubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);

const id = randomBytes(4).toString("hex");
const NS = `view-${id}`;
const SECRET = "db-credentials";
// The Secret's value: it must appear nowhere on the page.
const SECRET_VALUE = `s3cret-${randomBytes(8).toString("hex")}`;
const key = (kind: string, name: string): string => `local/${NS}/${kind}/${name}`;
const ARTIFACTS = join(repoRoot, "test-results");

const readerPod = (name: string): k8s.V1Pod => ({
  metadata: { name },
  spec: {
    serviceAccountName: "api",
    // No token volume: the picture shows what reads the Secret, not kube-root-ca.crt.
    automountServiceAccountToken: false,
    containers: [
      {
        name: "app",
        image: "busybox:1.37",
        env: [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: SECRET, key: "password" } } }],
        volumeMounts: [{ name: "creds", mountPath: "/etc/creds", readOnly: true }],
      },
    ],
    volumes: [{ name: "creds", secret: { secretName: SECRET } }],
  },
});

async function createFixture(): Promise<void> {
  await createNamespace(core, NS);
  await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: SECRET }, stringData: { password: SECRET_VALUE } } });
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: "api" } } });
  await rbac.createNamespacedRole({
    namespace: NS,
    body: { metadata: { name: "secret-reader" }, rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }] },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: NS,
    body: {
      metadata: { name: "api-reads-secrets" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "secret-reader" },
      subjects: [{ kind: "ServiceAccount", name: "api", namespace: NS }],
    },
  });
  await core.createNamespacedPod({ namespace: NS, body: readerPod("reader") });
  await apps.createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: "api" },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "api" } },
        template: {
          metadata: { labels: { app: "api" } },
          spec: {
            serviceAccountName: "api",
            automountServiceAccountToken: false,
            containers: [
              { name: "api", image: "busybox:1.37", env: [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: SECRET, key: "password" } } }] },
            ],
          },
        },
      },
    },
  });
  // kube-controller-manager makes the Deployment's pod; observe it too.
  await eventually("the Deployment's pod", async () =>
    (await core.listNamespacedPod({ namespace: NS, labelSelector: "app=api" })).items.length === 1 ? true : undefined,
  );
}

const actors = ["secret", "pod", "serviceaccount", "role", "rolebinding", "deployment"].map((resource) => ({ resource, namespace: NS }));

let browser: Browser;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // Installs Chromium from Debian's packages if missing; fails the run if it cannot.
  const executablePath = execFileSync("bash", [join(repoRoot, "scripts/browser/ensure.sh")], { encoding: "utf8" }).trim();
  // As root, Chromium's sandbox cannot start; the page is our own.
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  await createFixture();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await deleteNamespaces(core, [NS]);
});

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = new AgentProcess(args, env);
  const exit = await run.exited;
  return { code: exit.code, stdout: run.stdout, stderr: run.stderr };
}

// The page's window.koView, as far as the test reads it (cytoscape's own API).
interface Point {
  x: number;
  y: number;
}
interface CyElement {
  id(): string;
  data(name: string): string;
  renderedPosition(): Point;
  renderedMidpoint(): Point;
  source(): CyElement;
  target(): CyElement;
  nonempty(): boolean;
  empty(): boolean;
}
interface CyCollection {
  map<T>(fn: (e: CyElement) => T): T[];
  filter(fn: (e: CyElement) => boolean): CyElement[];
}
interface PageWindow {
  koView: {
    ready?: boolean;
    violations: string[];
    cy: { nodes(): CyCollection; edges(): CyCollection; getElementById(id: string): CyElement };
  };
}

interface Drawn {
  nodes: { id: string; label: string; x: number; y: number }[];
  edges: { source: string; target: string; rel: string }[];
  width: number;
  height: number;
  violations: string[];
}

/** What cytoscape holds on the page, with rendered positions in page coordinates. */
function drawn(page: Page): Promise<Drawn> {
  return page.evaluate(() => {
    const view = (window as unknown as PageWindow).koView;
    const box = document.getElementById("cy")!.getBoundingClientRect();
    return {
      nodes: view.cy.nodes().map((n) => ({ id: n.id(), label: n.data("label"), x: box.left + n.renderedPosition().x, y: box.top + n.renderedPosition().y })),
      edges: view.cy.edges().map((e) => ({ source: e.source().id(), target: e.target().id(), rel: e.data("rel") })),
      width: window.innerWidth,
      height: window.innerHeight,
      violations: view.violations,
    };
  });
}

const edgeText = (e: { source: string; target: string; rel: string }): string => `${e.source} -${e.rel}-> ${e.target}`;

/** Moves the mouse onto a node and returns the hover box's text. */
async function hover(page: Page, node: { x: number; y: number }, timeout = 5_000): Promise<string> {
  await page.mouse.move(node.x, node.y);
  await page.waitForSelector("#tip:not([hidden])", { timeout });
  return (await page.textContent("#tip")) ?? "";
}

function expectInViewport(d: Drawn): void {
  for (const n of d.nodes) {
    expect(n.x, `${n.id} x`).toBeGreaterThanOrEqual(0);
    expect(n.x, `${n.id} x`).toBeLessThanOrEqual(d.width);
    expect(n.y, `${n.id} y`).toBeGreaterThanOrEqual(0);
    expect(n.y, `${n.id} y`).toBeLessThanOrEqual(d.height);
  }
}

const EXPECTED_DEPTH_2 = [
  `${key("Secret", SECRET)} (hop 0)`,
  `${key("Pod", "reader")}`,
  `${key("Pod", "reader")}/volume/creds`,
  key("Deployment", "api"),
  key("ServiceAccount", "api"),
];
const EXPECTED_EDGES_2 = [
  `${key("Pod", "reader")} -USES_VOLUME-> ${key("Pod", "reader")}/volume/creds`,
  `${key("Pod", "reader")}/volume/creds -BACKED_BY-> ${key("Secret", SECRET)}`,
  `${key("Pod", "reader")} -USES_SECRET-> ${key("Secret", SECRET)}`,
  `${key("Deployment", "api")} -USES_SECRET-> ${key("Secret", SECRET)}`,
  `${key("Pod", "reader")} -RUNS_AS-> ${key("ServiceAccount", "api")}`,
  `${key("Deployment", "api")} -RUNS_AS-> ${key("ServiceAccount", "api")}`,
];

describe.each(["sqlite", "neo4j"] as const)("graph view on the %s sink", (sink: SinkKind) => {
  let ws: Workspace;

  it("draws the Secret's neighbourhood in headless Chromium, with properties on hover and no network request", async () => {
    if (sink === "neo4j") await wipeNeo4j();
    ws = workspace(sink, actors);
    await ws.runOnce();
    const file = join(ws.dir, "page.html");
    const run = await cli(["graph", "view", "secret", SECRET, "-n", NS, "--depth", "2", "--out", file, "--config", ws.config, "--sink", sink], ws.env);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const html = readFileSync(file, "utf8");
    console.log(`[graph-view] ${sink}: page ${file}, ${html.length} bytes`);
    expect(html).not.toContain(SECRET_VALUE);
    expect(html).not.toContain(Buffer.from(SECRET_VALUE).toString("base64"));
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-`);
    expect(html).toContain("connect-src 'none'");

    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const requests: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(() => (window as unknown as Partial<PageWindow>).koView?.ready === true, null, { timeout: 15_000 });
    const d = await drawn(page);
    expect(errors).toEqual([]);
    expect(d.violations).toEqual([]);

    const ids = d.nodes.map((n) => n.id);
    for (const k of EXPECTED_DEPTH_2) expect(ids).toContain(k.replace(" (hop 0)", ""));
    const pods = d.nodes.filter((n) => n.id.startsWith(key("Pod", "api-")) && n.label.startsWith("Pod "));
    expect(pods, "the Deployment's pod, by env").toHaveLength(1);
    // Two hops: the RoleBinding naming the ServiceAccount is the third.
    expect(ids).not.toContain(key("RoleBinding", "api-reads-secrets"));
    expect(ids).not.toContain(key("Role", "secret-reader"));
    const edges = d.edges.map(edgeText);
    for (const e of EXPECTED_EDGES_2) expect(edges).toContain(e);
    expect(edges).toContain(`${pods[0]!.id} -USES_SECRET-> ${key("Secret", SECRET)}`);
    // Every edge drawn joins two drawn nodes; every node has a place on the screen.
    for (const e of d.edges) expect(ids).toEqual(expect.arrayContaining([e.source, e.target]));
    expectInViewport(d);
    expect(d.nodes.find((n) => n.id === key("Secret", SECRET))!.label).toBe(`Secret ${NS}/${SECRET}`);

    // Hovering the Secret shows its properties (key names, never values).
    const secretText = await hover(page, d.nodes.find((n) => n.id === key("Secret", SECRET))!);
    expect(secretText).toContain(key("Secret", SECRET));
    expect(secretText).toContain("password");
    expect(secretText).toContain("Opaque");
    expect(secretText).not.toContain(SECRET_VALUE);
    await page.mouse.move(1, 1);
    await page.waitForSelector("#tip", { state: "hidden" });
    // And an edge's properties: the pod's env read of the Secret. Points along the edge,
    // from its middle out, until one is not also on another edge.
    const along = await page.evaluate(
      ([from, to]) => {
        const cy = (window as unknown as PageWindow).koView.cy;
        const box = document.getElementById("cy")!.getBoundingClientRect();
        const e = cy.edges().filter((x) => x.source().id() === from && x.target().id() === to && x.data("rel") === "USES_SECRET")[0]!;
        const a = e.source().renderedPosition();
        const b = e.target().renderedPosition();
        return [0.5, 0.4, 0.6, 0.3, 0.7].map((t) => ({ x: box.left + a.x + (b.x - a.x) * t, y: box.top + a.y + (b.y - a.y) * t }));
      },
      [pods[0]!.id, key("Secret", SECRET)],
    );
    let edgeTip = "";
    for (const point of along) {
      edgeTip = await hover(page, point, 2_000).catch(() => "");
      if (edgeTip.startsWith(`USES_SECRET: Pod ${NS}/${pods[0]!.id.split("/").pop()}`)) break;
    }
    expect(edgeTip).toContain(`USES_SECRET: Pod ${NS}/api-`);
    expect(edgeTip).toContain("DB_PASSWORD");
    expect(edgeTip).toContain("env");

    const shot = join(ARTIFACTS, `graph-view-${sink}.png`);
    await page.mouse.move(1, 1);
    await page.screenshot({ path: shot });
    console.log(`[graph-view] screenshot ${shot}`);
    // The page itself and nothing else.
    expect(requests).toEqual([pathToFileURL(file).href]);
    await page.close();

    // Deeper, the RBAC that lets the ServiceAccount read secrets: SUBJECT and GRANTS.
    const deep = join(ws.dir, "deep.html");
    const run4 = await cli(["graph", "view", "secret", SECRET, "-n", NS, "--depth", "4", "-o", deep, "--config", ws.config], ws.env);
    expect(run4.code, run4.stderr).toBe(0);
    const page4 = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    await page4.goto(pathToFileURL(deep).href);
    await page4.waitForFunction(() => (window as unknown as Partial<PageWindow>).koView?.ready === true, null, { timeout: 15_000 });
    const d4 = await drawn(page4);
    const edges4 = d4.edges.map(edgeText);
    expect(edges4).toContain(`${key("RoleBinding", "api-reads-secrets")} -SUBJECT-> ${key("ServiceAccount", "api")}`);
    expect(edges4).toContain(`${key("RoleBinding", "api-reads-secrets")} -GRANTS-> ${key("Role", "secret-reader")}`);
    expectInViewport(d4);
    const shot4 = join(ARTIFACTS, `graph-view-${sink}-depth4.png`);
    await page4.screenshot({ path: shot4 });
    console.log(`[graph-view] screenshot ${shot4}`);
    await page4.close();

    // A cap is said on the page; a missing object is a clear error.
    const small = join(ws.dir, "small.html");
    expect((await cli(["graph", "view", "secret", SECRET, "-n", NS, "--max-nodes", "3", "-o", small, "--config", ws.config], ws.env)).code).toBe(0);
    const page3 = await browser.newPage();
    await page3.goto(pathToFileURL(small).href);
    await page3.waitForFunction(() => (window as unknown as Partial<PageWindow>).koView?.ready === true, null, { timeout: 15_000 });
    expect((await drawn(page3)).nodes).toHaveLength(3);
    expect(await page3.textContent("#note")).toContain("Capped: more than 3 nodes are within 2 hops");
    await page3.close();
    const missing = await cli(["graph", "view", "secret", "nope", "-n", NS, "-o", join(ws.dir, "nope.html"), "--config", ws.config], ws.env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`${key("Secret", "nope")} is not in the graph`);
  }, 180_000);

  it("--serve keeps the open page live: a pod added to the cluster appears without a reload", async () => {
    const agent = ws.run();
    const view = new AgentProcess(["graph", "view", "secret", SECRET, "-n", NS, "--depth", "2", "--serve", "127.0.0.1:0", "--config", ws.config], ws.env);
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    try {
      const url = await view.waitFor("the served URL", () => /serving .* on (http:\/\/\S+)/.exec(view.stdout)?.[1], 30_000);
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      await page.goto(url);
      await page.waitForFunction(() => (window as unknown as Partial<PageWindow>).koView?.ready === true, null, { timeout: 15_000 });
      // A mark that a reload would wipe.
      await page.evaluate(() => {
        (window as unknown as { stillTheSamePage: boolean }).stillTheSamePage = true;
      });
      const late = key("Pod", "late-reader");
      expect((await drawn(page)).nodes.map((n) => n.id)).not.toContain(late);

      await core.createNamespacedPod({ namespace: NS, body: readerPod("late-reader") });
      const started = Date.now();
      await page.waitForFunction(
        (k) => {
          const v = (window as unknown as PageWindow).koView;
          return v.cy.getElementById(k).nonempty() && v.cy.getElementById(`${k}/volume/creds`).nonempty();
        },
        late,
        { timeout: 30_000, polling: 200 },
      );
      console.log(`[graph-view] ${sink}: the new pod was on the page ${Date.now() - started} ms after it was created`);
      expect(await page.evaluate(() => (window as unknown as { stillTheSamePage?: boolean }).stillTheSamePage)).toBe(true);
      const d = await drawn(page);
      expect(d.violations).toEqual([]);
      expect(d.edges.map(edgeText)).toContain(`${late}/volume/creds -BACKED_BY-> ${key("Secret", SECRET)}`);
      expect(d.edges.map(edgeText)).toContain(`${late} -USES_SECRET-> ${key("Secret", SECRET)}`);
      expectInViewport(d);
      const shot = join(ARTIFACTS, `graph-view-${sink}-live.png`);
      await page.screenshot({ path: shot });
      console.log(`[graph-view] screenshot ${shot}`);
      // Only the page's own server was asked: the page, then its polls.
      const origin = new URL(url).origin;
      expect(requests.filter((r) => !r.startsWith(origin))).toEqual([]);
      expect(requests.filter((r) => r === `${origin}/view.json`).length).toBeGreaterThan(0);

      // A request addressed to another name (DNS rebinding) is refused.
      const u = new URL(url);
      const status = await new Promise<number | undefined>((resolve, reject) =>
        httpGet({ host: u.hostname, port: u.port, path: "/view.json", headers: { Host: `rebound.example:${u.port}` } }, (res) => {
          res.resume();
          resolve(res.statusCode);
        }).on("error", reject),
      );
      expect(status).toBe(421);

      // Deleted from the cluster, gone from the page.
      await core.deleteNamespacedPod({ namespace: NS, name: "late-reader", gracePeriodSeconds: 0 });
      await page.waitForFunction((k) => (window as unknown as PageWindow).koView.cy.getElementById(k).empty(), late, { timeout: 30_000, polling: 200 });
    } finally {
      await page.close();
      view.signal("SIGTERM");
      expect((await view.exited).code).toBe(0);
      await agent.stop();
    }
  }, 120_000);
});
