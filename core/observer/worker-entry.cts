// Piscina loads a worker file with require() first. On Node 20.19+ that is require() of an
// ES module, which hit a native assertion (CreateRequiredModuleFacade) when many observer
// tasks started at once. This CommonJS entry import()s the real worker instead.
import type { MessagePort } from "node:worker_threads";
import type { ObserverStatus } from "./observer.js";
import type { ObserverTaskSpec } from "./protocol.js";

async function runObserverTask(task: { port: MessagePort; spec: ObserverTaskSpec }): Promise<ObserverStatus> {
  const worker = await import("./worker.js");
  return worker.default(task);
}

export = runObserverTask;
