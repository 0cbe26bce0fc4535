import { afterEach, describe, expect, it, vi } from 'vitest';

/** A fresh copy of the module (its collector and its count are per module instance), with `gc` stubbed or not. */
async function freshMemory(stub?: () => void) {
	vi.resetModules();
	if (stub) vi.stubGlobal('gc', stub);
	return import('../../src/core/memory.js');
}

describe('early collection of dead buffers', () => {
	afterEach(() => {
		vi.unstubAllGlobals();
	});

	it('GIVEN the default WHEN buffers churn THEN nothing is collected (the offline engine pays no collection)', async () => {
		const gc = vi.fn();
		const memory = await freshMemory(gc);
		for (let i = 0; i < 100; i++) memory.noteBufferChurn(memory.SERVICE_CHURN_BYTES);
		expect(gc).not.toHaveBeenCalled();
	});

	it('GIVEN collection every N bytes WHEN buffers churn THEN one collection per N bytes moved, none once turned off', async () => {
		const gc = vi.fn();
		const memory = await freshMemory(gc);
		memory.collectBufferGarbage(1000);
		memory.noteBufferChurn(999);
		expect(gc).not.toHaveBeenCalled();
		memory.noteBufferChurn(1);
		expect(gc).toHaveBeenCalledTimes(1);
		memory.noteBufferChurn(2500);
		expect(gc).toHaveBeenCalledTimes(2);
		memory.noteBufferChurn(999);
		expect(gc).toHaveBeenCalledTimes(2);
		memory.collectBufferGarbage(undefined);
		memory.noteBufferChurn(10_000);
		expect(gc).toHaveBeenCalledTimes(2);
	});

	it('GIVEN no exposed gc WHEN collection is on THEN the runtime collector is found and frees dropped buffers at once', async () => {
		const memory = await freshMemory();
		memory.collectBufferGarbage(1);
		const drop = () => {
			const held: Buffer[] = [];
			for (let i = 0; i < 24; i++) held.push(Buffer.alloc(1024 * 1024, i));
			return held.reduce((sum, buffer) => sum + buffer[0]!, 0);
		};
		drop();
		const before = process.memoryUsage().arrayBuffers;
		memory.noteBufferChurn(1);
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(process.memoryUsage().arrayBuffers).toBeLessThan(before - 16 * 1024 * 1024);
		memory.collectBufferGarbage(undefined);
	});

	it('GIVEN a nonsense threshold THEN a RangeError', async () => {
		const memory = await freshMemory();
		expect(() => {
			memory.collectBufferGarbage(0);
		}).toThrow(RangeError);
		expect(() => {
			memory.collectBufferGarbage(1.5);
		}).toThrow(RangeError);
	});
});
