import type { MeshService } from "./status-collector.js";

/** The demo shop's services on their `make run` ports. */
export const defaultMeshServices = "inventory=http://127.0.0.1:50051,payments=http://127.0.0.1:50052,orders=http://127.0.0.1:50053";

/**
 * Reads a list like MESH_SERVICES: comma-separated `name=url` entries; a
 * name given again adds an endpoint to that service
 * ("orders=http://a:1,orders=http://b:1"). Throws on an entry without a
 * name or with a URL that is not http(s).
 */
export function parseMeshServices(text: string): MeshService[] {
  const services = new Map<string, string[]>();
  for (const entry of text.split(",").map((e) => e.trim()).filter((e) => e !== "")) {
    const eq = entry.indexOf("=");
    const name = entry.slice(0, Math.max(eq, 0)).trim();
    const url = entry.slice(eq + 1).trim().replace(/\/+$/, "");
    if (eq <= 0 || name === "" || !/^https?:\/\/[^/\s]+$/.test(url)) {
      throw new Error(`mesh service "${entry}" is not name=http://host:port`);
    }
    const endpoints = services.get(name) ?? [];
    if (!endpoints.includes(url)) endpoints.push(url);
    services.set(name, endpoints);
  }
  return [...services].map(([name, endpoints]) => ({ name, endpoints }));
}
