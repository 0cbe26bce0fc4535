import { describe, expect, it } from 'vitest';

describe('repository', () => {
	it('GIVEN the test runner WHEN it starts THEN it runs TypeScript tests', () => {
		expect(1 + 1).toBe(2);
	});
});
