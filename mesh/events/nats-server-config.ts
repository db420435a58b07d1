import { jetStreamName, natsServerIdentity } from "./nats-bus.js";

/**
 * Who does what on NATS: each workload's published streams and consumed
 * streams (with its durable consumer's name). Everything else is denied.
 */
export interface NatsAccessPlan {
  /** e.g. { orders: ["orders"], inventory: ["inventory"] }. */
  readonly publishers: Readonly<Record<string, readonly string[]>>;
  /** e.g. { notifications: [{ stream: "orders", durable: "notifications" }] }. */
  readonly consumers: Readonly<Record<string, readonly { readonly stream: string; readonly durable: string }[]>>;
}

export interface NatsServerConfigOptions {
  readonly host: string;
  readonly port: number;
  /** JetStream's store directory. */
  readonly storeDir: string;
  /** The server's own certificate files (identity spiffe://<trust domain>/service/nats). */
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  readonly trustDomain: string;
  readonly plan: NatsAccessPlan;
  /**
   * This server's name in a cluster (JetStream needs one per node). Here and
   * in `cluster.advertise`, a whole value `$NAME` is left unquoted for
   * nats-server to take from its environment: one file for every node, as a
   * Kubernetes StatefulSet mounts it.
   */
  readonly serverName?: string;
  /** Routes to the other nodes of a JetStream cluster, over mTLS. Default: a single server. */
  readonly cluster?: NatsClusterOptions;
}

/**
 * A cluster's routes: every node listens on `port`, dials `routes` (every
 * node, itself included, as nats-server expects) and advertises `advertise`
 * (its own host name, so that the routes other nodes learn of are names their
 * TLS can verify, not addresses). Routes use the server's own certificate in
 * both directions: each node verifies the other's chain against the mesh CA
 * and its host name (the node's certificate must carry it as a DNS SAN), and
 * maps the dialler's certificate to the one route user, the nats identity, so
 * a workload certificate of the mesh cannot join as a route.
 */
export interface NatsClusterOptions {
  readonly name: string;
  readonly port: number;
  /** e.g. "nats-1:6222". */
  readonly advertise: string;
  /** e.g. ["nats-route://nats-1:6222", "nats-route://nats-2:6222", "nats-route://nats-3:6222"]. */
  readonly routes: readonly string[];
}

/**
 * A nats-server (2.9+) configuration for the mesh's events: TLS required,
 * every client presenting a certificate of the mesh's CA (verify_and_map: the
 * certificate's SPIFFE id is the user, so credentials are the workload's own
 * certificate, renewed with it, and no password exists to leak), and per
 * workload the subjects it may publish and subscribe:
 *
 * - a publisher of stream S: publish S.> and make sure of S's JetStream
 *   stream (info, create);
 * - a consumer of S with durable D: that stream's info and create, D's
 *   info, create and next-message requests, and acks of D's messages; it may
 *   not publish to S (a consumer cannot forge events);
 * - everyone: replies on _INBOX.> (JetStream answers there).
 *
 * A client without a certificate is refused at the handshake; one whose
 * identity has no user here is refused as unauthorized.
 */
export function natsServerConfig(options: NatsServerConfigOptions): string {
  const users = new Map<string, { publish: Set<string>; subscribe: Set<string> }>();
  const userOf = (name: string) => {
    let user = users.get(name);
    if (user === undefined) {
      user = { publish: new Set(["$JS.API.INFO"]), subscribe: new Set(["_INBOX.>"]) };
      users.set(name, user);
    }
    return user;
  };
  const streamAdmin = (stream: string): string[] => [
    `$JS.API.STREAM.INFO.${jetStreamName(stream)}`,
    `$JS.API.STREAM.CREATE.${jetStreamName(stream)}`,
  ];
  for (const [name, streams] of Object.entries(options.plan.publishers)) {
    const user = userOf(name);
    for (const stream of streams) {
      [`${stream}.>`, ...streamAdmin(stream)].forEach((s) => user.publish.add(s));
    }
  }
  for (const [name, consumed] of Object.entries(options.plan.consumers)) {
    const user = userOf(name);
    for (const { stream, durable } of consumed) {
      const js = jetStreamName(stream);
      [
        ...streamAdmin(stream),
        `$JS.API.CONSUMER.INFO.${js}.${durable}`,
        `$JS.API.CONSUMER.CREATE.${js}.${durable}`,
        `$JS.API.CONSUMER.CREATE.${js}.${durable}.>`,
        `$JS.API.CONSUMER.DURABLE.CREATE.${js}.${durable}`,
        `$JS.API.CONSUMER.MSG.NEXT.${js}.${durable}`,
        `$JS.ACK.${js}.${durable}.>`,
      ].forEach((s) => user.publish.add(s));
    }
  }
  const list = (subjects: Set<string>): string => `[${[...subjects].map((s) => JSON.stringify(s)).join(", ")}]`;
  const userLines = [...users].map(
    ([name, { publish, subscribe }]) =>
      `    { user: ${JSON.stringify(`spiffe://${options.trustDomain}/service/${name}`)}, permissions: { publish: { allow: ${list(publish)} }, subscribe: { allow: ${list(subscribe)} } } }`,
  );
  const tlsFiles = [
    `  cert_file: ${JSON.stringify(options.certFile)}`,
    `  key_file: ${JSON.stringify(options.keyFile)}`,
    `  ca_file: ${JSON.stringify(options.caFile)}`,
  ];
  const cluster = options.cluster;
  const clusterLines =
    cluster === undefined
      ? []
      : [
          "cluster {",
          `  name: ${JSON.stringify(cluster.name)}`,
          `  host: ${JSON.stringify(options.host)}`,
          `  port: ${cluster.port}`,
          `  advertise: ${valueOrVariable(cluster.advertise)}`,
          `  routes: [${cluster.routes.map((r) => JSON.stringify(r)).join(", ")}]`,
          "  tls {",
          ...tlsFiles.map((l) => `  ${l}`),
          "    verify_and_map: true",
          "  }",
          `  authorization { user: ${JSON.stringify(`spiffe://${options.trustDomain}/service/${natsServerIdentity}`)} }`,
          "}",
        ];
  return [
    "# Generated by Meshwork (natsServerConfig): TLS with client certificates of",
    "# the mesh CA, each workload's SPIFFE id a user with its subject permissions.",
    ...(options.serverName === undefined ? [] : [`server_name: ${valueOrVariable(options.serverName)}`]),
    `host: ${JSON.stringify(options.host)}`,
    `port: ${options.port}`,
    `jetstream { store_dir: ${JSON.stringify(options.storeDir)} }`,
    "tls {",
    ...tlsFiles,
    "  verify_and_map: true",
    "}",
    ...clusterLines,
    "authorization {",
    "  users = [",
    ...userLines,
    "  ]",
    "}",
    "",
  ].join("\n");
}

/** A quoted string, or `$NAME` as nats-server's reference to a variable of its environment. */
function valueOrVariable(value: string): string {
  return /^\$[A-Z_][A-Z0-9_]*$/.test(value) ? value : JSON.stringify(value);
}
