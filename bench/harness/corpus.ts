import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CorpusInfo } from './suite.js';

/**
 * Deterministic corpora: the same seed gives the same bytes on every machine, so runs compare. Random data is an
 * AES-256-CTR keystream keyed by the seed (fast, incompressible); text is log lines and prose drawn by a seeded
 * PRNG from a generated vocabulary (compresses like real text, not like one repeated byte).
 */

/** sfc32, a small fast PRNG with 128 bits of state; seeded from sha256 of a string. */
export class SeededRandom {
	private a: number;
	private b: number;
	private c: number;
	private d: number;

	public constructor(seed: string) {
		const digest = createHash('sha256').update(seed).digest();
		this.a = digest.readUInt32LE(0);
		this.b = digest.readUInt32LE(4);
		this.c = digest.readUInt32LE(8);
		this.d = digest.readUInt32LE(12);
		for (let i = 0; i < 16; i++) this.next();
	}

	/** A float in [0, 1). */
	public next(): number {
		const t = (((this.a + this.b) | 0) + this.d) | 0;
		this.d = (this.d + 1) | 0;
		this.a = this.b ^ (this.b >>> 9);
		this.b = (this.c + (this.c << 3)) | 0;
		this.c = (this.c << 21) | (this.c >>> 11);
		this.c = (this.c + t) | 0;
		return (t >>> 0) / 4294967296;
	}

	/** An integer in [0, n). */
	public below(n: number): number {
		return Math.floor(this.next() * n);
	}

	public pick<T>(items: readonly T[]): T {
		return items[this.below(items.length)]!;
	}
}

const BLOCK = 4 * 1024 * 1024;

/** Writes `bytes` of AES-256-CTR keystream (keyed by `seed`) to `file`. */
export async function writeRandomFile(file: string, bytes: number, seed: string): Promise<void> {
	const key = createHash('sha256').update(`random:${seed}`).digest();
	const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
	const zeros = Buffer.alloc(BLOCK);
	const handle = await open(file, 'w');
	try {
		for (let written = 0; written < bytes;) {
			const length = Math.min(BLOCK, bytes - written);
			await handle.write(cipher.update(zeros.subarray(0, length)));
			written += length;
		}
	} finally {
		await handle.close();
	}
}

const SYLLABLES = ['ka', 'lo', 'ri', 'men', 'sto', 'ar', 'chi', 've', 'dun', 'pel', 'tra', 'nor', 'si', 'qua', 'ber', 'on', 'el', 'ust', 'fi', 'gen'];
const STOPWORDS = [
	'the',
	'of',
	'and',
	'to',
	'in',
	'a',
	'is',
	'that',
	'for',
	'it',
	'as',
	'with',
	'was',
	'on',
	'be',
	'by',
	'this',
	'are',
	'from',
	'at'
];
const LEVELS = ['INFO', 'INFO', 'INFO', 'DEBUG', 'DEBUG', 'WARN', 'ERROR'];
const COMPONENTS = ['upload.worker', 'http.server', 'db.pool', 'scheduler', 'auth', 'cache', 'thumbnailer', 'sync.daemon'];

/**
 * Generates realistic text: timestamped log lines (two thirds) and prose sentences, from a seeded vocabulary.
 * It writes bytes straight into buffers (no string per line), fast enough to make a GiB in seconds.
 */
export class TextGenerator {
	private readonly random: SeededRandom;
	private readonly words: Buffer[];
	private readonly capitalized: Buffer[];
	private readonly stopwords: Buffer[];
	private readonly levels: Buffer[];
	private readonly components: Buffer[];
	private clock: number;
	private stampSecond = -1;
	private stamp = Buffer.alloc(0);
	private out = Buffer.alloc(0);
	private at = 0;

	public constructor(seed: string) {
		this.random = new SeededRandom(`text:${seed}`);
		const vocabulary = new Set<string>();
		while (vocabulary.size < 4000) {
			let word = '';
			for (let n = 1 + this.random.below(4); n > 0; n--) word += this.random.pick(SYLLABLES);
			vocabulary.add(word);
		}
		this.words = [...vocabulary, ...STOPWORDS].map((word) => Buffer.from(word, 'latin1'));
		this.capitalized = [...vocabulary, ...STOPWORDS].map((word) => Buffer.from(`${word.charAt(0).toUpperCase()}${word.slice(1)}`, 'latin1'));
		this.stopwords = STOPWORDS.map((word) => Buffer.from(word, 'latin1'));
		this.levels = LEVELS.map((level) => Buffer.from(level.padEnd(5), 'latin1'));
		this.components = COMPONENTS.map((component) => Buffer.from(component, 'latin1'));
		this.clock = Date.UTC(2024, 0, 1);
	}

	/** At least `bytes` bytes of text, whole lines. */
	public block(bytes: number): Buffer {
		this.out = Buffer.allocUnsafe(bytes + 4096);
		this.at = 0;
		while (this.at < bytes) this.line();
		return this.out.subarray(0, this.at);
	}

	private line(): void {
		if (this.random.next() < 2 / 3) this.logLine();
		else for (let n = 1 + this.random.below(4); n > 0; n--) this.sentence(n === 1);
		this.byte(10);
	}

	private logLine(): void {
		this.clock += this.random.below(2000);
		const second = Math.floor(this.clock / 1000);
		if (second !== this.stampSecond) {
			this.stampSecond = second;
			this.stamp = Buffer.from(new Date(second * 1000).toISOString().slice(0, 19), 'latin1');
		}
		this.copy(this.stamp);
		this.byte(46);
		this.digits(this.clock % 1000, 3);
		this.copy(Z_SPACE);
		this.copy(this.random.pick(this.levels));
		this.byte(32);
		this.copy(this.random.pick(this.components));
		this.byte(91);
		this.digits(this.random.below(8), 1);
		this.copy(BRACKET_SPACE);
		for (let i = 0; i < 4; i++) {
			this.copy(this.word(false));
			this.byte(32);
		}
		this.copy(ID);
		this.hex(Math.floor(this.random.next() * 0x100000000));
		this.copy(TOOK);
		this.digits(this.random.below(900), 0);
		this.copy(MS_BYTES);
		this.digits(this.random.below(10_000_000), 0);
	}

	private sentence(last: boolean): void {
		const count = 6 + this.random.below(16);
		for (let i = 0; i < count; i++) {
			this.copy(this.word(i === 0));
			if (i < count - 1) this.byte(32);
		}
		this.byte(46);
		if (!last) this.byte(32);
	}

	/** A word, Zipf-like: stop words and a few frequent words dominate, as in real text. */
	private word(capital: boolean): Buffer {
		const list = capital ? this.capitalized : this.words;
		if (!capital && this.random.next() < 0.35) return this.random.pick(this.stopwords);
		const r = this.random.next();
		return list[Math.floor(r * r * r * (list.length - STOPWORDS.length))]!;
	}

	private copy(bytes: Buffer): void {
		// A plain loop beats Buffer#copy for words of a few bytes.
		const out = this.out;
		let at = this.at;
		for (let i = 0; i < bytes.length; i++) out[at++] = bytes[i]!;
		this.at = at;
	}

	private byte(value: number): void {
		this.out[this.at++] = value;
	}

	/** Decimal digits of `value`, zero-padded to `width`. */
	private digits(value: number, width: number): void {
		let text = String(value);
		while (text.length < width) text = `0${text}`;
		this.at += this.out.write(text, this.at, 'latin1');
	}

	private hex(value: number): void {
		this.at += this.out.write(value.toString(16).padStart(8, '0'), this.at, 'latin1');
	}
}

const Z_SPACE = Buffer.from('Z ', 'latin1');
const BRACKET_SPACE = Buffer.from('] ', 'latin1');
const ID = Buffer.from('id=', 'latin1');
const TOOK = Buffer.from(' took=', 'latin1');
const MS_BYTES = Buffer.from('ms bytes=', 'latin1');

/** Writes exactly `bytes` of generated text to `file`. */
export async function writeTextFile(file: string, bytes: number, generator: TextGenerator): Promise<void> {
	const handle = await open(file, 'w');
	try {
		for (let written = 0; written < bytes;) {
			const block = generator.block(Math.min(BLOCK, bytes - written)).subarray(0, bytes - written);
			await handle.write(block);
			written += block.length;
		}
	} finally {
		await handle.close();
	}
}

/** A corpus to generate. */
export type CorpusSpec =
	| { readonly name: string; readonly kind: 'random' | 'text'; readonly files: number; readonly bytes: number; readonly seed: string }
	| { readonly name: string; readonly kind: 'small-files'; readonly files: number; readonly maxFileBytes: number; readonly seed: string };

/**
 * Generates a corpus folder `dir` (flat: the original tool only archived a folder's top level, so every scheme
 * sees every file). `random`/`text`: `files` files sharing `bytes` equally. `small-files`: `files` files with
 * log-uniform sizes from 1 byte to `maxFileBytes`, two thirds text and one third random.
 */
export async function generateCorpus(dir: string, spec: CorpusSpec): Promise<CorpusInfo> {
	await mkdir(dir, { recursive: true });
	if (spec.kind === 'small-files') {
		const random = new SeededRandom(`sizes:${spec.seed}`);
		const text = new TextGenerator(spec.seed);
		let total = 0;
		for (let i = 0; i < spec.files; i++) {
			const size = Math.max(1, Math.floor(Math.exp(random.next() * Math.log(spec.maxFileBytes))));
			const isText = random.next() < 2 / 3;
			const name = `file-${String(i).padStart(5, '0')}.${isText ? 'txt' : 'bin'}`;
			const data = isText ? text.block(size).subarray(0, size) : randomBytesFrom(random, size);
			await writeFile(path.join(dir, name), data);
			total += size;
		}
		return {
			name: spec.name,
			description: `${spec.files.toLocaleString('en-US')} small files, 1 B–${formatSize(spec.maxFileBytes)} (log-uniform), ⅔ text, ⅓ random`,
			files: spec.files,
			bytes: total,
			seed: spec.seed
		};
	}
	const per = Math.floor(spec.bytes / spec.files);
	const generator = spec.kind === 'text' ? new TextGenerator(spec.seed) : undefined;
	for (let i = 0; i < spec.files; i++) {
		const size = i === spec.files - 1 ? spec.bytes - per * (spec.files - 1) : per;
		const file = path.join(dir, `${spec.kind}-${String(i).padStart(2, '0')}.${spec.kind === 'text' ? 'log' : 'bin'}`);
		if (generator === undefined) await writeRandomFile(file, size, `${spec.seed}:${i}`);
		else await writeTextFile(file, size, generator);
	}
	return {
		name: spec.name,
		description:
			spec.kind === 'random'
				? `${formatSize(spec.bytes)} incompressible (AES-CTR keystream) in ${spec.files} file(s)`
				: `${formatSize(spec.bytes)} text (log lines and prose from a generated vocabulary) in ${spec.files} file(s)`,
		files: spec.files,
		bytes: spec.bytes,
		seed: spec.seed
	};
}

function randomBytesFrom(random: SeededRandom, size: number): Buffer {
	const out = Buffer.alloc(size);
	for (let i = 0; i < size; i += 4) {
		const value = (random.next() * 4294967296) >>> 0;
		for (let j = 0; j < 4 && i + j < size; j++) out[i + j] = (value >>> (8 * j)) & 0xff;
	}
	return out;
}

/** `1 GiB`, `256 MiB`, `64 KiB`, `12 B`. */
export function formatSize(bytes: number): string {
	const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let value = bytes;
	let unit = 0;
	while (value >= 1024 && unit < units.length - 1) {
		value /= 1024;
		unit++;
	}
	return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}
