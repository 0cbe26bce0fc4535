import { describe, expect, it } from 'vitest';
import { CoreErrorCode, forEachConcurrently } from '../../src/core/index.js';

describe('forEachConcurrently', () => {
	it('GIVEN tasks running when the signal fires WHEN one finishes first THEN ABORTED is thrown only once every running task has settled, and no new one starts', async () => {
		const controller = new AbortController();
		const settled: number[] = [];
		const started: number[] = [];
		let release: () => void = () => undefined;
		const slow = new Promise<void>((resolve) => {
			release = resolve;
		});
		const run = forEachConcurrently([0, 1, 2, 3, 4], 2, controller.signal, async (item) => {
			started.push(item);
			if (item === 0) {
				// The fast one: it finishes right after the abort, and its worker sees the signal before its next item.
				await new Promise((resolve) => setTimeout(resolve, 10));
				controller.abort();
			} else await slow;
			settled.push(item);
		});
		let thrown: unknown;
		const outcome = run.catch((error: unknown) => {
			thrown = error;
			return settled.length;
		});
		await new Promise((resolve) => setTimeout(resolve, 50));
		// Item 1 is still running: nothing may be thrown yet (a caller would remove what it is writing into).
		expect(thrown).toBeUndefined();
		release();
		expect(await outcome).toBe(2);
		expect(thrown).toMatchObject({ code: CoreErrorCode.Aborted });
		expect(started).toEqual([0, 1]);
	});
});
