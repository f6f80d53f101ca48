/**
 * CPU time and memory of another process from /proc (Linux): what a server process spent, measured from
 * outside so that neither server carries measuring code of its own.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every common Linux, asked once. */
function clockTicks(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

const TICKS = clockTicks();

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: count fields after its closing ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, i.e. 12 and 13 after the name.
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

function statusKb(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return Number.NaN;
  }
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** CPU seconds the whole machine has spent busy (all cores; everything but idle and iowait). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal …: guest time is already inside user.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / TICKS;
}

/** Resident set size now, in bytes. */
export function rssBytes(pid: number): number {
  return statusKb(pid, 'VmRSS') * 1024;
}

/** Peak resident set size since start or since the last {@link resetPeakRss}, in bytes. */
export function peakRssBytes(pid: number): number {
  return statusKb(pid, 'VmHWM') * 1024;
}

/** Resets the kernel's peak-RSS mark (`echo 5 > clear_refs`, Linux ≥ 4.0); false when not permitted. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** A reading, or NaN where /proc cannot be read (not Linux, or the process is gone): figures, never a failure. */
function orNaN(read: () => number): number {
  try {
    return read();
  } catch {
    return Number.NaN;
  }
}

/** CPU and peak memory of one process over one measured interval. */
export interface ProcWindow {
  cpuSeconds: number;
  peakRssBytes: number;
  /** CPU seconds the whole machine was busy meanwhile: shows load from other processes. */
  machineBusySeconds: number;
  /** CPU seconds of this (the measuring) process meanwhile. */
  selfCpuSeconds: number;
}

/**
 * Starts measuring `pid`: CPU from /proc/<pid>/stat, peak RSS from the kernel's mark when it can be
 * reset, otherwise from samples of VmRSS every `sampleMs`.
 */
export function watchProcess(pid: number, sampleMs = 100): { stop(): ProcWindow } {
  const cpu0 = orNaN(() => cpuSeconds(pid));
  const busy0 = orNaN(machineBusySeconds);
  const self0 = process.cpuUsage();
  const reset = resetPeakRss(pid);
  let sampled = rssBytes(pid);
  const timer = setInterval(() => {
    // NaN once the process has ended: stop() reports what was seen.
    const now = rssBytes(pid);
    if (now > sampled || Number.isNaN(sampled)) sampled = now;
  }, sampleMs);
  return {
    stop() {
      clearInterval(timer);
      const peak = reset ? Math.max(peakRssBytes(pid), sampled) : Math.max(sampled, rssBytes(pid));
      const self = process.cpuUsage(self0);
      return { cpuSeconds: orNaN(() => cpuSeconds(pid)) - cpu0, peakRssBytes: peak, machineBusySeconds: orNaN(machineBusySeconds) - busy0, selfCpuSeconds: (self.user + self.system) / 1e6 };
    },
  };
}
