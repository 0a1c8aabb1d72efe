// The bench's verdict: a goal that FAILs makes `npm run bench` exit 1 (so CI or a script notices), unless
// --report-only asks for the figures alone. A goal that could not be measured (n/a) is not a failure: the
// table and the notes say why it is missing.

export interface Goal {
  goal: string;
  measured: string;
  /** undefined: not measured (n/a). */
  pass: boolean | undefined;
}

export interface Verdict {
  /** The process's exit code. */
  code: 0 | 1;
  /** One line for stderr. */
  line: string;
}

export function verdict(goals: readonly Goal[], reportOnly: boolean): Verdict {
  const failed = goals.filter((g) => g.pass === false).map((g) => g.goal);
  const na = goals.filter((g) => g.pass === undefined).length;
  const met = goals.length - failed.length - na;
  const summary = `${met}/${goals.length} goals met${failed.length ? `; failed: ${failed.join("; ")}` : ""}${na ? `; ${na} not measured` : ""}`;
  if (failed.length === 0) return { code: 0, line: `bench: ${summary}` };
  if (reportOnly) return { code: 0, line: `bench: ${summary} (--report-only: exit 0)` };
  return { code: 1, line: `bench: ${summary} (exit 1; --report-only to only report)` };
}
