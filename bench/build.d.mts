/** build.mjs compiles the benchmark when imported; its output paths, relative to the repository. */
export declare const outfile: string
export declare const targetOutfile: (major: 3 | 4) => string
