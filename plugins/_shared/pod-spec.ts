// Reduction of a PodSpec, shared by the pod plugin and (later) workload plugins whose
// pod templates reference the same things. Files under plugins/_shared are helpers, not
// plugins: the registry loads only files directly in plugins/.
import { asArray, field } from "../../core/plugin/sdk.js";
import { reduceVolume } from "./volume-source.js";

export interface ReducedEnvVar {
  name: string;
  /** Only references are kept; a literal `value` may be a secret and is dropped. */
  valueFrom:
    | { configMapKeyRef: { name: string; key: string; optional: boolean } }
    | { secretKeyRef: { name: string; key: string; optional: boolean } }
    | { fieldRef: { fieldPath: string } }
    | { resourceFieldRef: { resource: string } }
    | null;
}

export interface ReducedEnvFrom {
  prefix: string | null;
  configMapRef: { name: string; optional: boolean } | null;
  secretRef: { name: string; optional: boolean } | null;
}

export interface ReducedContainer {
  name: string;
  image: string;
  imagePullPolicy: string | null;
  env: ReducedEnvVar[];
  envFrom: ReducedEnvFrom[];
  volumeMounts: Array<{ name: string; mountPath: string; readOnly: boolean; subPath: string | null }>;
  securityContext: {
    privileged: boolean | null;
    runAsUser: number | null;
    runAsNonRoot: boolean | null;
    allowPrivilegeEscalation: boolean | null;
    readOnlyRootFilesystem: boolean | null;
    capabilitiesAdd: string[];
  } | null;
}

export interface ReducedPodSpec {
  serviceAccountName: string | null;
  automountServiceAccountToken: boolean | null;
  nodeName: string | null;
  hostNetwork: boolean;
  hostPID: boolean;
  hostIPC: boolean;
  imagePullSecrets: string[];
  containers: ReducedContainer[];
  initContainers: ReducedContainer[];
  ephemeralContainers: ReducedContainer[];
  /** Each volume as `{ name, <type>: <source> }`, the source with its named fields only
   *  (_shared/volume-source.ts): what backs the volume, never attribute or option maps
   *  (csi.volumeAttributes, flexVolume.options) or credentials in URLs. */
  volumes: Array<Record<string, unknown> & { name: string }>;
}

type Raw = Record<string, unknown>;

function reduceRef(ref: unknown, keyed: boolean): { name: string; key: string; optional: boolean } | { name: string; optional: boolean } {
  const name = field<string>(ref, "name") ?? "";
  const optional = field<boolean>(ref, "optional") === true;
  return keyed ? { name, key: field<string>(ref, "key") ?? "", optional } : { name, optional };
}

function reduceEnvVar(env: Raw): ReducedEnvVar {
  const from = env.valueFrom as Raw | undefined;
  let valueFrom: ReducedEnvVar["valueFrom"] = null;
  if (from?.configMapKeyRef) valueFrom = { configMapKeyRef: reduceRef(from.configMapKeyRef, true) as { name: string; key: string; optional: boolean } };
  else if (from?.secretKeyRef) valueFrom = { secretKeyRef: reduceRef(from.secretKeyRef, true) as { name: string; key: string; optional: boolean } };
  else if (from?.fieldRef) valueFrom = { fieldRef: { fieldPath: field<string>(from.fieldRef, "fieldPath") ?? "" } };
  else if (from?.resourceFieldRef) valueFrom = { resourceFieldRef: { resource: field<string>(from.resourceFieldRef, "resource") ?? "" } };
  return { name: String(env.name ?? ""), valueFrom };
}

function reduceContainer(c: Raw): ReducedContainer {
  const sc = c.securityContext as Raw | undefined;
  return {
    name: String(c.name ?? ""),
    image: String(c.image ?? ""),
    imagePullPolicy: (c.imagePullPolicy as string | undefined) ?? null,
    env: asArray<Raw>(c.env).map(reduceEnvVar),
    envFrom: asArray<Raw>(c.envFrom).map((e) => ({
      prefix: (e.prefix as string | undefined) ?? null,
      configMapRef: e.configMapRef ? (reduceRef(e.configMapRef, false) as { name: string; optional: boolean }) : null,
      secretRef: e.secretRef ? (reduceRef(e.secretRef, false) as { name: string; optional: boolean }) : null,
    })),
    volumeMounts: asArray<Raw>(c.volumeMounts).map((m) => ({
      name: String(m.name ?? ""),
      mountPath: String(m.mountPath ?? ""),
      readOnly: m.readOnly === true,
      subPath: (m.subPath as string | undefined) ?? null,
    })),
    securityContext: sc
      ? {
          privileged: (sc.privileged as boolean | undefined) ?? null,
          runAsUser: (sc.runAsUser as number | undefined) ?? null,
          runAsNonRoot: (sc.runAsNonRoot as boolean | undefined) ?? null,
          allowPrivilegeEscalation: (sc.allowPrivilegeEscalation as boolean | undefined) ?? null,
          readOnlyRootFilesystem: (sc.readOnlyRootFilesystem as boolean | undefined) ?? null,
          capabilitiesAdd: asArray<string>(field(sc, "capabilities", "add")),
        }
      : null,
  };
}

/** Keeps what the graph needs from a PodSpec; drops literal env values, commands and args. */
export function reducePodSpec(spec: unknown): ReducedPodSpec {
  const s = (spec ?? {}) as Raw;
  return {
    serviceAccountName: (s.serviceAccountName as string | undefined) ?? null,
    automountServiceAccountToken: (s.automountServiceAccountToken as boolean | undefined) ?? null,
    nodeName: (s.nodeName as string | undefined) ?? null,
    hostNetwork: s.hostNetwork === true,
    hostPID: s.hostPID === true,
    hostIPC: s.hostIPC === true,
    imagePullSecrets: asArray<Raw>(s.imagePullSecrets).map((r) => String(r.name ?? "")),
    containers: asArray<Raw>(s.containers).map(reduceContainer),
    initContainers: asArray<Raw>(s.initContainers).map(reduceContainer),
    ephemeralContainers: asArray<Raw>(s.ephemeralContainers).map(reduceContainer),
    volumes: asArray<unknown>(s.volumes).map(reduceVolume),
  };
}
