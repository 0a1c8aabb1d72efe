// A process's memory as the kernel counts it: VmHWM (its peak resident set, resettable through
// /proc/<pid>/clear_refs) and VmRSS (resident now), in MB. Linux only, like every bench here.
import { readFileSync } from "node:fs";

export interface Mem {
  hwmMb: number;
  rssMb: number;
}

export function memOf(pid: number): Mem {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { hwmMb: kb("VmHWM") / 1024, rssMb: kb("VmRSS") / 1024 };
}
