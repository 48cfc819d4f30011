// ServiceAccounts: identity, the secrets they mount or pull with, token automount.
import { asArray, reduceMetadata } from "../core/plugin/sdk.js";
import { definePlugin } from "../core/plugin/types.js";

export default definePlugin({
  name: "serviceaccount",
  apiVersion: 1,
  resource: { group: "", version: "v1", plural: "serviceaccounts", kind: "ServiceAccount", namespaced: true },
  reduce(sa) {
    return {
      metadata: reduceMetadata(sa),
      automountServiceAccountToken: typeof sa.automountServiceAccountToken === "boolean" ? sa.automountServiceAccountToken : null,
      secrets: asArray<{ name?: string }>(sa.secrets).map((s) => String(s.name ?? "")),
      imagePullSecrets: asArray<{ name?: string }>(sa.imagePullSecrets).map((s) => String(s.name ?? "")),
    };
  },
});
