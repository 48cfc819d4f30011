// The audit's rules: one module each; adding a rule is adding it here.
import type { AuditRule } from "../model.js";
import clusterAdmin from "./cluster-admin.js";
import danglingReference from "./dangling-reference.js";
import defaultServiceAccount from "./default-service-account.js";
import exposedSecretReader from "./exposed-secret-reader.js";
import hostNamespaces from "./host-namespaces.js";
import { hostPath, hostRoot } from "./host-path.js";
import { imageRegistry, imageWithoutDigest } from "./images.js";
import privilegedPod from "./privileged-pod.js";
import secretsClusterWide from "./secrets-cluster-wide.js";
import unusedSecret from "./unused-secret.js";
import wildcardRole from "./wildcard-role.js";

export const AUDIT_RULES: readonly AuditRule[] = [
  privilegedPod,
  hostRoot,
  hostNamespaces,
  hostPath,
  defaultServiceAccount,
  secretsClusterWide,
  clusterAdmin,
  wildcardRole,
  exposedSecretReader,
  imageWithoutDigest,
  imageRegistry,
  danglingReference,
  unusedSecret,
];
