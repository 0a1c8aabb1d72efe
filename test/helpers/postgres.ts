// A throwaway PostgreSQL server for tests: initdb + pg_ctl in a temp dir, listening on a free loopback
// port only (socket in the temp dir), trust auth for local connections, stopped and deleted afterwards.
// initdb refuses to run as root, so as root the cluster is created and run as the unprivileged user
// `postgres` (created with useradd if missing). Also spawns replicas of the built server in HTTP mode.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import pg from "pg";
import { whenListening, type HttpServerProcess } from "./http.js";
import { CLI } from "./stdio.js";
import { startSandboxApi, type SandboxApi } from "../../src/sandbox/index.js";

export const PG_MISSING =
  "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH or under /usr/lib/postgresql/*/bin. " +
  "Install them first — on Debian/Ubuntu, as root: apt-get update && apt-get install -y --no-install-recommends postgresql";

/** The directory holding initdb, pg_ctl and postgres together, or undefined. */
export function findPostgresBin(): string | undefined {
  const has = (dir: string) => ["initdb", "pg_ctl", "postgres"].every((b) => existsSync(join(dir, b)));
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir || !existsSync(join(dir, "initdb"))) continue;
    const real = dirname(realpathSync(join(dir, "initdb")));
    if (has(real)) return real;
    if (has(dir)) return dir;
  }
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (has(join(root, v, "bin"))) return join(root, v, "bin");
  }
  return undefined;
}

export interface PgCluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** A new, empty database; its URL. */
  createDatabase(name?: string): Promise<string>;
  /** One query on a database (default: postgres). */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string, params?: unknown[]): Promise<T[]>;
  stop(): Promise<void>;
}

export interface PgOptions {
  /** Keep fsync and synchronous commit on (for throughput figures); tests turn them off for speed. */
  durable?: boolean;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Runs a PostgreSQL binary, as `postgres` when we are root. */
function runAs(user: string | undefined, bin: string, args: string[]): void {
  const [cmd, argv] = user ? ["runuser", ["-u", user, "--", bin, ...args]] : [bin, args];
  const r = spawnSync(cmd, argv, { encoding: "utf8", cwd: "/" });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
}

function ensureUser(name: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync("id", [flag, name], { encoding: "utf8" }).trim());
  if (spawnSync("id", [name]).status !== 0) {
    const r = spawnSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`cannot create the unprivileged user ${name} to run PostgreSQL (initdb refuses root): ${r.stderr}`);
  }
  return { uid: id("-u"), gid: id("-g") };
}

const live = new Set<() => void>();
process.once("exit", () => {
  for (const stop of live) stop();
});

export async function startPostgres(opts: PgOptions = {}): Promise<PgCluster> {
  const bin = findPostgresBin();
  if (!bin) throw new Error(PG_MISSING);
  const root = process.getuid?.() === 0;
  const user = root ? "postgres" : undefined;
  // As root, /tmp: the postgres user must be able to reach the directory (a root-only TMPDIR would not do).
  const dir = mkdtempSync(join(root ? "/tmp" : tmpdir(), "gbm-pg-"));
  const data = join(dir, "data");
  mkdirSync(data, { mode: 0o700 });
  if (user) {
    const { uid, gid } = ensureUser(user);
    chownSync(dir, uid, gid);
    chownSync(data, uid, gid);
  }
  runAs(user, join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
  const settings = [
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    "-c max_connections=300",
    ...(opts.durable ? [] : ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]),
  ];
  let port = 0;
  for (let attempt = 0; attempt < 5 && !port; attempt++) {
    const p = await freePort();
    try {
      runAs(user, join(bin, "pg_ctl"), ["-D", data, "-l", join(dir, "server.log"), "-w", "-t", "30", "-o", `-p ${p} ${settings.join(" ")}`, "start"]);
      port = p;
    } catch (err) {
      if (attempt === 4) throw new Error(`${(err as Error).message}\n${existsSync(join(dir, "server.log")) ? readFileSync(join(dir, "server.log"), "utf8") : ""}`);
    }
  }
  let stopped = false;
  const stopNow = () => {
    if (stopped) return;
    stopped = true;
    live.delete(stopNow);
    try {
      runAs(user, join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  live.add(stopNow);
  const base = `postgres://postgres@127.0.0.1:${port}`;
  let n = 0;
  const query = async <T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query<T>(sql, params)).rows;
    } finally {
      await c.end();
    }
  };
  return {
    url: `${base}/postgres`,
    port,
    async createDatabase(name = `gate_${process.pid}_${++n}`) {
      await query(`${base}/postgres`, `CREATE DATABASE "${name}"`);
      return `${base}/${name}`;
    },
    query,
    async stop() {
      stopNow();
    },
  };
}

// ── Replicas: the built server in HTTP mode ─────────────────────────────────────────────────────────

/** A replica: an HTTP-mode server process (stdout not collected). */
export type Replica = HttpServerProcess;

/**
 * Spawns `node dist/src/cli.js --transport http` on a free loopback port (or `port`) with --public-url set
 * to that same address (the replica's page origin) unless `publicUrl` is given, and waits for its
 * "listening" log line. `env` adds to the
 * child's environment (e.g. GEOPERA_REQUEST_STATE_SECRET).
 */
export async function startReplica(opts: { apiUrl: string; store: string; args?: string[]; env?: Record<string, string>; port?: number; publicUrl?: string }): Promise<Replica> {
  const stateDir = mkdtempSync(join(tmpdir(), "gbm-replica-"));
  const port = opts.port ?? (await freePort());
  // Behind a balancer every replica answers to the balancer's address: then pass it as publicUrl.
  const publicUrl = opts.publicUrl ?? `http://127.0.0.1:${port}`;
  const proc = spawn(
    process.execPath,
    [CLI, "--transport", "http", "--port", String(port), "--public-url", publicUrl, "--store", opts.store, "--state-dir", stateDir, ...(opts.args ?? [])],
    { env: { PATH: process.env.PATH ?? "", GEOPERA_API_URL: opts.apiUrl, ...opts.env }, stdio: ["ignore", "ignore", "pipe"] },
  );
  return whenListening(proc, "replica", 20_000);
}

/** The two-replica world: the sandbox API, a throwaway PostgreSQL with one database, replicas A and B on it. */
export interface ReplicaPair {
  api: SandboxApi;
  pg: PgCluster;
  db: string;
  a: Replica;
  b: Replica;
}

/** Starts the pair, both replicas together on the empty database (they migrate under one lock; one creates the schema). */
export async function startReplicaPair(args: string[]): Promise<ReplicaPair> {
  const api = await startSandboxApi();
  const pg = await startPostgres();
  const db = await pg.createDatabase();
  const [a, b] = await Promise.all([startReplica({ apiUrl: api.url, store: db, args }), startReplica({ apiUrl: api.url, store: db, args })]);
  return { api, pg, db, a, b };
}

/** Stops whatever of a pair was started (a failed beforeAll leaves parts undefined). */
export async function stopReplicaPair(w: Partial<ReplicaPair>): Promise<void> {
  await w.a?.stop();
  await w.b?.stop();
  await w.api?.close();
  await w.pg?.stop();
}
