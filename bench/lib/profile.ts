/**
 * Summarises a V8 `.cpuprofile` (written by `node --cpu-prof`): self time per
 * function and per module (package / source file / node internals), so the
 * bench can say where the telehub process spends its CPU.
 *
 * Also runnable on its own:
 *   node --import tsx bench/lib/profile.ts <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  percent: number;
}

export interface ProfileSummary {
  file: string;
  /** Only samples in this window were counted (the timed run); absent: the whole process life. */
  window?: ProfileWindow;
  totalMs: number;
  /** Sampled time that was not idle. */
  busyMs: number;
  topFunctions: ProfileEntry[];
  byModule: ProfileEntry[];
}

/** Groups a script URL: a package under node_modules, a repo source file, node internals. */
export function moduleOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName.startsWith('(')) return functionName; // (garbage collector), (program), (idle)
    return '(native)';
  }
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/').slice(0, 2).join('/');
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

/**
 * A time window in microseconds of the monotonic clock (`process.hrtime`),
 * which is also the clock of V8 profile timestamps on Linux, so a window
 * taken in the bench process selects samples of the child's profile.
 */
export interface ProfileWindow {
  fromUs: number;
  toUs: number;
}

export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export function summariseProfile(file: string, top = 15, window?: ProfileWindow): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the next delta to sample i.
    t += p.timeDeltas[i] ?? 0;
    if (window && (t < window.fromUs || t > window.toUs)) continue;
    const dt = p.timeDeltas[i + 1] ?? 0;
    selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + dt);
  }
  const fn = new Map<string, number>();
  const mod = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const cf = n.callFrame;
    total += us;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const m = moduleOf(cf.url, cf.functionName);
    const where = cf.url ? `${m}:${cf.lineNumber + 1}` : m;
    const key = `${cf.functionName || '(anonymous)'} ${where}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    mod.set(m, (mod.get(m) ?? 0) + us);
  }
  const busy = total - idle;
  const rank = (m: Map<string, number>, k: number): ProfileEntry[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), percent: busy > 0 ? Math.round((1000 * us) / busy) / 10 : 0 }));
  return { file, window, totalMs: Math.round(total / 1000), busyMs: Math.round(busy / 1000), topFunctions: rank(fn, top), byModule: rank(mod, top) };
}

export function formatProfile(s: ProfileSummary): string {
  const scope = s.window ? 'during the timed run' : 'over the whole process life';
  const lines = [`  profile ${s.file}: ${s.busyMs} ms busy of ${s.totalMs} ms sampled ${scope} (main thread)`, '  self time by module:'];
  for (const e of s.byModule) lines.push(`    ${e.percent.toFixed(1).padStart(5)}%  ${String(e.ms).padStart(6)} ms  ${e.name}`);
  lines.push('  self time by function:');
  for (const e of s.topFunctions) lines.push(`    ${e.percent.toFixed(1).padStart(5)}%  ${String(e.ms).padStart(6)} ms  ${e.name}`);
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/lib/profile.ts <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  process.stdout.write(formatProfile(summariseProfile(file, Number(process.argv[3] ?? 25))) + '\n');
}
