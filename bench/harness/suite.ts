/**
 * The shapes shared by the benchmark runner, its suites and the child processes that run each measured case.
 *
 * A suite is a module `bench/suites/<name>.ts` exporting `suite: BenchSuite`. Its `run` prepares inputs and asks
 * the runner to execute cases; each case runs in its own child process (so its peak RSS is its own), which loads
 * the same module and calls `suite.cases[kind](params)`.
 */

/** Parameters of one case: plain JSON values, passed to the child process on its command line. */
export type CaseParams = Readonly<Record<string, string | number | boolean>>;

/** What a case function reports about its own work. */
export interface CaseOutcome {
	/** Input bytes processed (the corpus size, or the part of it that was processed). */
	readonly bytes: number;
	readonly files?: number;
	/** Chunks (or messages) produced or read. */
	readonly chunks?: number;
	/** Bytes written as chunks / archive. */
	readonly storedBytes?: number;
	/** The measured duration when it is not the whole case function (e.g. an external command's). */
	readonly seconds?: number;
	/** Peak RSS of an external command (its largest process), when the work ran outside Node. */
	readonly externalPeakRssBytes?: number;
	/** Free-form facts worth keeping (projections, ratios). */
	readonly note?: string;
}

export type CaseFunction = (params: CaseParams) => Promise<CaseOutcome>;

/** One measured case, as stored in `bench/results/<suite>.json`. */
export interface CaseResult {
	/** Unique within the suite, e.g. `slice/text-1g/w2`. */
	readonly id: string;
	/** The case function that ran. */
	readonly kind: string;
	/** What it is, for the table. */
	readonly label: string;
	/** The corpus name, when there is one. */
	readonly corpus?: string;
	readonly workers?: number;
	readonly params: CaseParams;
	readonly ok: boolean;
	/** Why it failed, when it did. */
	readonly error?: string;
	readonly bytes: number;
	readonly files?: number;
	readonly chunks?: number;
	readonly storedBytes?: number;
	readonly seconds: number;
	/** Decimal megabytes of input per second. */
	readonly mbPerSecond: number;
	/** Peak RSS of the measured process (the child, with its worker threads), or of the external command. */
	readonly peakRssBytes: number;
	/** `process` for work inside the child; `external` for an external command's largest process. */
	readonly rssScope: 'process' | 'external';
	/** PBKDF2 derivations announced on `dos:kdf` in the child while the case ran. */
	readonly kdfDerivations: number;
	readonly note?: string;
}

/** A generated input. */
export interface CorpusInfo {
	readonly name: string;
	readonly description: string;
	readonly files: number;
	readonly bytes: number;
	readonly seed: string;
}

/** A checked target: PASS/FAIL with the figures it was decided on. */
export interface TargetCheck {
	readonly id: string;
	readonly description: string;
	readonly measured: string;
	readonly threshold: string;
	readonly pass: boolean;
}

/** What a suite hands back to the runner. */
export interface SuiteReport {
	readonly corpora: readonly CorpusInfo[];
	readonly cases: readonly CaseResult[];
	readonly targets: readonly TargetCheck[];
	readonly notes: readonly string[];
}

/** The machine a run happened on. */
export interface MachineInfo {
	readonly cpu: string;
	readonly cores: number;
	readonly memoryBytes: number;
	readonly platform: string;
	readonly arch: string;
	readonly release: string;
	/** 1-minute load average when the run started: the machine is shared. */
	readonly loadAverage: number;
}

/** The file `bench/results/<suite>.json`. */
export interface SuiteResultFile extends SuiteReport {
	readonly suite: string;
	readonly description: string;
	/** ISO date of the run. */
	readonly date: string;
	readonly node: string;
	readonly machine: MachineInfo;
	readonly durationSeconds: number;
}

/** What the runner offers a suite while it runs. */
export interface SuiteContext {
	/** A scratch folder for corpora and outputs, removed when the suite ends. */
	readonly scratch: string;
	/**
	 * Corpus scale, 1 for a real run. `DOS_BENCH_SCALE=0.01` shrinks inputs to try the harness quickly; such runs
	 * write their results to `bench/results/tmp/` (not committed).
	 */
	readonly scale: number;
	/** Runs one case in its own child process. Never throws for a failing case: the result says `ok: false`. */
	runCase(spec: { id: string; kind: string; label: string; corpus?: string; workers?: number; params: CaseParams }): Promise<CaseResult>;
	log(message: string): void;
}

export interface BenchSuite {
	readonly name: string;
	readonly description: string;
	readonly cases: Readonly<Record<string, CaseFunction>>;
	run(context: SuiteContext): Promise<SuiteReport>;
}
