// The file store's OAuth records: one JSON file (oauth.json, mode 0600) in the state directory, held in
// memory and rewritten whole (temporary file, fsync, rename) after each change, so a restart keeps grants
// and tokens. Every method checks and changes the map with no await in between (a synchronous span), so
// a code or refresh token is consumed once in this process. One process per directory, like the rest of
// the file store. Keys are hashes (src/oauth/adapter.ts): the file never holds a token's value.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Clock } from "../gate/clock.js";
import type { Logger } from "../log.js";
import type { OAuthRecord, OAuthRecords } from "./types.js";

export const OAUTH_FILE = "oauth.json";

export class FileOAuthRecords implements OAuthRecords {
  private readonly file: string;
  private readonly records = new Map<string, OAuthRecord>();

  constructor(
    private readonly dir: string,
    private readonly clock: Clock,
    log: Logger,
  ) {
    this.file = join(dir, OAUTH_FILE);
    let text: string | undefined;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    if (text !== undefined) {
      try {
        for (const [k, r] of Object.entries(JSON.parse(text) as Record<string, OAuthRecord>)) this.records.set(k, r);
      } catch {
        // Damaged: every grant is lost (people sign in again); the gate's own state is untouched.
        log.error("oauth.json is damaged; starting with no OAuth grants (people connect again)", { file: this.file });
      }
    }
  }

  private live(key: string): OAuthRecord | undefined {
    const r = this.records.get(key);
    if (r && r.expiresAt !== undefined && r.expiresAt <= this.clock()) {
      this.records.delete(key);
      return undefined;
    }
    return r;
  }

  /** Drops expired records and writes the rest durably. */
  private save(): void {
    const now = this.clock();
    for (const [k, r] of this.records) if (r.expiresAt !== undefined && r.expiresAt <= now) this.records.delete(k);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      const buf = Buffer.from(JSON.stringify(Object.fromEntries(this.records)), "utf8");
      for (let at = 0; at < buf.length; ) at += writeSync(fd, buf, at, buf.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  async put(key: string, record: OAuthRecord) {
    this.records.set(key, structuredClone(record));
    this.save();
  }

  async putIfAbsent(key: string, record: OAuthRecord) {
    const found = this.live(key);
    if (found) return structuredClone(found);
    this.records.set(key, structuredClone(record));
    this.save();
    return structuredClone(record);
  }

  async get(key: string) {
    const r = this.live(key);
    return r && structuredClone(r);
  }

  async getByUid(uid: string) {
    for (const [k, r] of this.records) if (r.uid === uid) return this.get(k);
    return undefined;
  }

  async consume(key: string) {
    const r = this.live(key);
    if (!r || r.consumed !== undefined) return false;
    r.consumed = Math.floor(this.clock() / 1000);
    this.save();
    return true;
  }

  async remove(key: string) {
    if (this.records.delete(key)) this.save();
  }

  async removeByGrant(grantId: string, model: string) {
    let changed = false;
    for (const [k, r] of this.records) if (r.grantId === grantId && r.model === model) changed = this.records.delete(k) || changed;
    if (changed) this.save();
  }
}
