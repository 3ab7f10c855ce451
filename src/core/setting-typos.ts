/**
 * Spots environment variables that are probably misspelt settings
 * (`DATABSE_URL`, `MQTT_URLL`): telehub would silently ignore them and run on
 * a default, which is the worst way to find a typo. Unknown `TELEHUB_*` names
 * are already refused by `loadConfig`; this covers the seed names (`MQTT_*`,
 * `POSTGRES_*`, `DATABASE_URL`, `ACK_TEMPLATE`), which share the environment
 * with other programs and so can only be warned about, not refused.
 *
 * @example
 * findSettingTypos({ DATABSE_URL: 'postgres://…' })
 * // [{ variable: 'DATABSE_URL', meant: 'DATABASE_URL' }]
 */
import { IGNORED_PREFIXES, SETTINGS } from './settings.js';

export interface SettingTypo {
  /** The variable as it was set. */
  variable: string;
  /** The setting it probably meant. */
  meant: string;
}

/**
 * Damerau-Levenshtein distance (the optimal-string-alignment variant: an
 * insertion, deletion, substitution or swap of two neighbours costs 1).
 * Written here rather than taken from a package: it is a dozen lines of a
 * textbook algorithm, run on a few dozen short names once at start-up.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * How many edits still count as a typo of `known`: 2, but only 1 when the
 * part after its first `_` is 4 characters or fewer (`MQTT_HOST`,
 * `DATABASE_URL`): there two edits rewrite half the word and reach unrelated
 * names (`MQTT_QOS` is two edits from `MQTT_HOST`).
 */
export function typoBudget(known: string): number {
  const distinctive = known.slice(known.indexOf('_') + 1);
  return distinctive.length <= 4 ? 1 : 2;
}

/** Prefixes of the seed settings: a variable with one of them is almost surely meant for telehub. */
const OUR_PREFIXES = ['MQTT_', 'POSTGRES_', 'DATABASE_'];

/**
 * The known name `name` most probably meant, or undefined. Case is ignored
 * (`database_url` is a typo too), an exact match is never a typo, and a
 * variable with one of our prefixes that cuts a known name short
 * (`MQTT_USER` for `MQTT_USERNAME`) counts as well.
 */
export function closestSetting(name: string, known: readonly string[] = SETTINGS.map((s) => s.env)): string | undefined {
  if (known.includes(name)) return undefined;
  const upper = name.toUpperCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(upper, k);
    if (d <= typoBudget(k) && d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  if (best !== undefined) return best;
  const prefix = OUR_PREFIXES.find((p) => upper.startsWith(p));
  if (prefix && upper.length >= prefix.length + 3) return known.find((k) => k.startsWith(upper));
  return undefined;
}

/**
 * Every variable of `env` that looks like a misspelt setting, with the setting
 * it probably meant. `TELEHUB_*` names are left to `loadConfig`, which refuses
 * unknown ones outright; tool variables (`TELEHUB_TEST_*`) are never reported.
 */
export function findSettingTypos(env: Record<string, string | undefined>): SettingTypo[] {
  const known = SETTINGS.map((s) => s.env);
  const out: SettingTypo[] = [];
  for (const variable of Object.keys(env).sort()) {
    if (variable.startsWith('TELEHUB_') || IGNORED_PREFIXES.some((p) => variable.startsWith(p))) continue;
    const meant = closestSetting(variable, known);
    if (meant !== undefined) out.push({ variable, meant });
  }
  return out;
}

/** The warning sentence for one typo (never includes the variable's value, which may be a secret). */
export function describeTypo(t: SettingTypo): string {
  return `Environment variable ${t.variable} is not a telehub setting and is ignored; did you mean ${t.meant}?`;
}
