/**
 * Examples for one Effect version only: a README block or an examples/ program whose first line is
 * `// Effect 3` or `// Effect 4` uses an Effect API that differs between them; any other is for both.
 */
export const isForEffect = (source: string, major: 3 | 4): boolean => {
  const marker = /^\/\/ Effect ([34])\b/.exec(source)
  return marker === null || Number(marker[1]) === major
}
