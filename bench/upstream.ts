// The benchmark's upstream: the embedded sandbox billing API (src/sandbox), run in a child process of the
// bench so that its CPU is not charged to the load driver. Every target (floor, baseline, peer, ours) talks
// to this same process over loopback. Prints one JSON line {"url": …} on stdout, exits when stdin closes.
//
//   node dist/bench/upstream.js [ledgerRows]
import { startSandboxApi } from "../src/sandbox/index.js";

const ledgerRows = Number(process.argv[2] ?? 1_000_000);
const api = await startSandboxApi({ ledgerRows });
process.stdout.write(JSON.stringify({ url: api.url, ledgerRows }) + "\n");

let closing = false;
const stop = () => {
  if (closing) return;
  closing = true;
  void api.close().finally(() => process.exit(0));
};
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
