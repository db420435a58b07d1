import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { openCaDir } from "../../mesh/identity/ca-files.js";
import { defaultTrustDomain } from "../../mesh/identity/spiffe-id.js";
import { loadOperatorCredentials } from "../load/operator-credentials.js";
import { issueCredentials, operatorTtlMs } from "./issue-credentials.js";

describe("issueCredentials (make cert, make load, chaos)", function () {
  this.timeout(30_000);
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "meshwork-issue-"));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  const uriOf = (certFile: string) => new X509Certificate(readFileSync(certFile)).subjectAltName;

  it("writes an operator's under tls/operators/<name> and a service's under tls/<name>, key 0600 in a 0700 directory", async () => {
    const ca = await openCaDir(path.join(dataDir, "ca"), defaultTrustDomain);
    const before = Date.now();
    const operator = await issueCredentials(ca, dataDir, { kind: "operator", name: "alice-operator", ttlMs: operatorTtlMs });
    expect(operator.uri).to.equal("spiffe://meshwork.local/operator/alice-operator");
    expect(operator.files.certFile).to.equal(path.join(dataDir, "tls", "operators", "alice-operator", "tls.crt"));
    expect(uriOf(operator.files.certFile)).to.contain("URI:spiffe://meshwork.local/operator/alice-operator");
    expect(operator.notAfter.getTime()).to.be.within(before + operatorTtlMs - 60_000, Date.now() + operatorTtlMs);
    expect(statSync(operator.files.keyFile).mode & 0o777).to.equal(0o600);
    expect(statSync(path.dirname(operator.files.keyFile)).mode & 0o777).to.equal(0o700);
    const service = await issueCredentials(ca, dataDir, { kind: "service", name: "nats", ttlMs: 60_000 });
    expect(service.files.caFile).to.equal(path.join(dataDir, "tls", "nats", "ca.crt"));
    expect(uriOf(service.files.certFile)).to.contain("URI:spiffe://meshwork.local/service/nats");
    await issueCredentials(ca, dataDir, { kind: "operator", name: "Not A Name", ttlMs: 60_000 }).then(
      () => expect.fail("issued a certificate for a malformed name"),
      (err: Error) => expect(err.message).to.match(/Not A Name/),
    );
  });

  it("make load issues its own operator 'load' from the data directory's CA", async () => {
    const files = await loadOperatorCredentials({ dataDir, trustDomain: defaultTrustDomain });
    expect(files.certFile).to.equal(path.join(dataDir, "tls", "operators", "load", "tls.crt"));
    expect(uriOf(files.certFile)).to.contain("URI:spiffe://meshwork.local/operator/load");
  });
});
