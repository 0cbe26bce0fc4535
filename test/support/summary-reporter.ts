import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, after the default reporter's
 * summary, so that a reader of CI's log (human or not) finds the totals without colour codes.
 */
export default class SummaryReporter implements Reporter {
	public onTestRunEnd(testModules: readonly TestModule[]): void {
		let passed = 0;
		let failed = 0;
		let skipped = 0;
		for (const testModule of testModules) {
			for (const test of testModule.children.allTests()) {
				const { state } = test.result();
				if (state === 'passed') passed++;
				else if (state === 'failed') failed++;
				else skipped++;
			}
			if (testModule.state() === 'failed' && [...testModule.children.allTests()].length === 0) failed++;
		}
		process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
	}
}
