// Certificates and keys for the local control plane, made with the openssl CLI:
// a CA the kubeconfig trusts, the apiserver's serving certificate, and the
// ServiceAccount token signing key pair.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  saKey: string;
  saPub: string;
}

export function pkiFiles(dir: string): Pki {
  return {
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    servingCert: join(dir, "apiserver.crt"),
    servingKey: join(dir, "apiserver.key"),
    saKey: join(dir, "sa.key"),
    saPub: join(dir, "sa.pub"),
  };
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run("openssl", args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(error)}`);
  }
}

/** Creates the PKI in dir unless it is already there. */
export async function ensurePki(dir: string): Promise<Pki> {
  const files = pkiFiles(dir);
  if (Object.values(files).every((file) => existsSync(file))) return files;
  mkdirSync(dir, { recursive: true });

  await openssl(["genrsa", "-out", files.caKey, "2048"]);
  await openssl(["req", "-x509", "-new", "-key", files.caKey, "-sha256", "-days", "3650", "-subj", "/CN=kube-observer-dev-ca", "-out", files.caCert]);

  const ext = join(dir, "apiserver.ext");
  writeFileSync(
    ext,
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1",
      "",
    ].join("\n"),
  );
  const csr = join(dir, "apiserver.csr");
  await openssl(["genrsa", "-out", files.servingKey, "2048"]);
  await openssl(["req", "-new", "-key", files.servingKey, "-subj", "/CN=kube-apiserver", "-out", csr]);
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    files.caCert,
    "-CAkey",
    files.caKey,
    "-CAcreateserial",
    "-days",
    "3650",
    "-sha256",
    "-extfile",
    ext,
    "-out",
    files.servingCert,
  ]);

  await openssl(["genrsa", "-out", files.saKey, "2048"]);
  await openssl(["rsa", "-in", files.saKey, "-pubout", "-out", files.saPub]);
  return files;
}
