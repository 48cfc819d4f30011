// `--output jsonl`: one KubeMessage per line on a stream, honouring its backpressure so
// a slow reader slows the observers instead of growing memory.
import type { Writable } from "node:stream";
import type { KubeMessage } from "../messages.js";
import type { MessageSink } from "../supervisor/cluster-supervisor.js";

export class JsonlSink implements MessageSink {
  private chain: Promise<void> = Promise.resolve();
  delivered = 0;

  constructor(private readonly out: Writable) {}

  deliver(messages: KubeMessage[]): Promise<void> {
    // Serialised so that batches from different observers never interleave mid-line.
    this.chain = this.chain.then(() => this.write(messages));
    return this.chain;
  }

  private write(messages: KubeMessage[]): Promise<void> {
    let text = "";
    for (const message of messages) text += `${JSON.stringify(message)}\n`;
    this.delivered += messages.length;
    return new Promise((resolve, reject) => {
      const ok = this.out.write(text, (error) => (error ? reject(error) : undefined));
      if (ok) resolve();
      else this.out.once("drain", resolve);
    });
  }
}

/** Counts and drops (for runs that only need the observers' logs). */
export class NullSink implements MessageSink {
  delivered = 0;
  deliver(messages: KubeMessage[]): Promise<void> {
    this.delivered += messages.length;
    return Promise.resolve();
  }
}
