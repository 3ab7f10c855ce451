/** `telehub deadletters`: prints the most recent dead letters as JSON lines. */
import { ALL_REASON_CODES } from '../../core/errors.js';
import { deadLetterToJson } from '../../core/event.js';
import { editDistance } from '../../core/setting-typos.js';
import { intOption, stringOption } from '../args.js';
import type { Command } from '../command.js';
import { EXIT, UsageError } from '../errors.js';
import { withStore } from '../store.js';

/** The reason code `--reason` was checked against, or a UsageError naming the closest one. */
function reasonCode(raw: string | undefined): string | undefined {
  if (raw === undefined || (ALL_REASON_CODES as string[]).includes(raw)) return raw;
  const near = ALL_REASON_CODES.map((c) => ({ c, d: editDistance(raw.toLowerCase(), c) })).sort((a, b) => a.d - b.d)[0];
  const hint = near && near.d <= 3 ? ` (did you mean ${near.c}?)` : '';
  throw new UsageError(`--reason ${JSON.stringify(raw)} is not a reason code${hint}; the codes are ${ALL_REASON_CODES.join(', ')} (docs/errors.md)`);
}

export const deadletters: Command = {
  name: 'deadletters',
  summary: 'Print the most recent dead letters as JSON lines, newest first.',
  description:
    'Each line holds the id, reason code, message, topic, device, source, time received and the raw payload ' +
    '(payload as UTF-8 text when it is valid UTF-8, else payload_base64). Reason codes: docs/errors.md.',
  options: {
    reason: { type: 'string', value: 'CODE', description: 'Only dead letters with this reason code (e.g. invalid_json).' },
    limit: { type: 'string', value: 'N', description: 'How many dead letters, 1 to 10000 (default 20).' },
  },
  examples: ['telehub deadletters', 'telehub deadletters --reason topic_device_mismatch --limit 100'],
  async run(ctx) {
    const reason = reasonCode(stringOption(ctx.values, 'reason'));
    const limit = intOption(ctx.values, 'limit', { min: 1, max: 10_000 }, 20);
    const rows = await withStore(ctx, (store) => store.listDeadLetters({ reason, limit }));
    for (const d of rows) ctx.out(JSON.stringify({ id: d.id, ...deadLetterToJson(d, { full: true }) }) + '\n');
    return EXIT.ok;
  },
};
