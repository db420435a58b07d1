import pg from "pg";

const databaseName = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Makes sure the database `name` exists on the server that `serverUrl` names
 * (connecting to the database in that URL, e.g. postgres), creating it when
 * missing, and returns the URL of `name` on the same server with the same
 * credentials. For development runs (`STORE=postgres make run`) and tests;
 * a deployment provisions its databases and hands each service its URL.
 */
export async function ensureDatabase(serverUrl: string, name: string): Promise<string> {
  if (!databaseName.test(name)) {
    throw new Error(`invalid database name "${name}"`);
  }
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (rowCount === 0) {
      await client.query(`CREATE DATABASE ${name}`).catch((err: unknown) => {
        // duplicate_database: another process created it meanwhile.
        if ((err as { code?: string }).code !== "42P04") {
          throw err;
        }
      });
    }
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
