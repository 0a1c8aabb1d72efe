// A suite that cannot run here says why, in the test output: its title carries the reason, and one line
// goes to the console when the file is collected (vitest prints it under the file's name), so a run
// without Chromium or PostgreSQL shows what it did not check instead of a bare "skipped" count.

export const NO_POSTGRES = "needs PostgreSQL: runs only with GEOPERA_TEST_STORE=postgres (npm run test:pg; the binaries in /usr/lib/postgresql/*/bin)";

/** The suite's title, with the reason appended (and printed once) when `skip` is true. */
export function skipped(title: string, skip: boolean, why: string): string {
  if (!skip) return title;
  console.warn(`skipped: "${title}": ${why}`);
  return `${title} [skipped: ${why}]`;
}
