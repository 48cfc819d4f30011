// The local etcd (scripts/devenv/etcd.ts) of the environment the tests run against.
import * as etcd from "../../scripts/devenv/etcd.js";
import { devEnv } from "./cluster.js";

export const etcdDelete = (key: string): Promise<number> => etcd.etcdDelete(devEnv().etcdUrl, key);
export const etcdPut = (key: string, value: string): Promise<void> => etcd.etcdPut(devEnv().etcdUrl, key, value);
export const etcdRevision = (): Promise<number> => etcd.etcdRevision(devEnv().etcdUrl);
export const etcdCompact = (revision: number): Promise<void> => etcd.etcdCompact(devEnv().etcdUrl, revision);
