// A terminal program in tmux, driven as a person would: type, press keys, read the screen.
//   const t = openTerminal("name", "cd /dir && env A=1 prog args");  await t.waitFor(/prompt/);  t.close();
import { execFileSync, spawnSync } from "node:child_process";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function openTerminal(session, command, { width = 160, height = 50 } = {}) {
  spawnSync("tmux", ["kill-session", "-t", session]);
  const tmux = (...a) => execFileSync("tmux", a, { encoding: "utf8" });
  // `sleep` keeps the pane (and what the program printed last) readable after it exits.
  tmux("new-session", "-d", "-s", session, "-x", String(width), "-y", String(height), `${command}; sleep 30`);
  const screen = () => tmux("capture-pane", "-t", session, "-p");
  const keys = async (...k) => {
    for (const key of k) {
      tmux("send-keys", "-t", session, key);
      await sleep(300);
    }
  };
  const waitFor = async (re, ms = 30_000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (re.test(screen())) return true;
      await sleep(250);
    }
    return false;
  };
  /** Types `text` literally, presses Enter, waits until the screen matches `re`. */
  const ask = async (text, re, ms) => {
    tmux("send-keys", "-t", session, "-l", text);
    await sleep(300);
    await keys("Enter");
    return waitFor(re, ms);
  };
  return { screen, keys, waitFor, ask, close: () => spawnSync("tmux", ["kill-session", "-t", session]) };
}

/** `env K=V … ` for a shell command line, values quoted. */
export const envLine = (env) => "env " + Object.entries(env).map(([k, v]) => `${k}='${String(v).replace(/'/g, `'\\''`)}'`).join(" ");
