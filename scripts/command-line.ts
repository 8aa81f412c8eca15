import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Prints what is wrong and the usage, and exits 2 (a usage error, as for any Unix command). */
export function usageError(usage: string, problem?: string): never {
  console.error(problem ? `${problem}\n\n${usage}` : usage);
  process.exit(2);
}

/**
 * `parseArgs` for the project's commands. An unknown option or a missing value gets its reason
 * and the usage instead of a stack trace; `--help` (declare it in `options`) prints the usage.
 */
export function parseCommandLine<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    usageError(usage, (err as Error).message);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  return parsed;
}
