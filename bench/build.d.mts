/** build.mjs compiles the benchmark when imported; its output paths, relative to the repository. */
export declare const outfile: string
/** A target build of bench/targets/<name>Cases.ts (default: the guards, guardCases.ts). */
export declare const targetOutfile: (major: 3 | 4, name?: "targets" | "http" | "redis") => string
