/** dist/server: the services compiled as the container images hold them. */
export const SERVER_BUILD_DIR: string;
/** Builds dist/server unless it is newer than every source; returns its directory. */
export function ensureServerBuild(options?: { quiet?: boolean }): string;
