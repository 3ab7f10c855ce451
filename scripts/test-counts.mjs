// A node:test reporter that counts finished tests (suites aside) and writes
// them as one JSON line when the run ends. scripts/run-tests.mjs runs it next
// to the spec reporter to print one closing line for both of its phases.
export default async function* testCounts(source) {
  const counts = { passed: 0, failed: 0, skipped: 0, todo: 0 };
  for await (const { type, data } of source) {
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    if (data.details?.type === 'suite') continue;
    if (data.skip) counts.skipped++;
    else if (data.todo) counts.todo++;
    else if (type === 'test:pass') counts.passed++;
    else counts.failed++;
  }
  yield `${JSON.stringify(counts)}\n`;
}
