#!/usr/bin/env node
// Container health check: `node scripts/healthcheck.mjs URL [URL...]` exits 0 when every URL
// answers 2xx within the timeout, else 1 with the reason on stderr (Docker keeps the last output
// of a failing check: `docker inspect --format '{{json .State.Health}}' <container>`).
// Plain JavaScript on purpose: the runtime images have neither curl nor wget, and this must run
// without a build step. Used by docker-compose.yml and, natively, by the Compose stack test.
const TIMEOUT_MS = Number(process.env.HEALTHCHECK_TIMEOUT_MS ?? 2000);
const urls = process.argv.slice(2);
if (urls.length === 0) {
  console.error('usage: node scripts/healthcheck.mjs URL [URL...]');
  process.exit(2);
}

let ok = true;
for (const url of urls) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), headers: { accept: 'application/json' } });
    const body = (await res.text()).slice(0, 300);
    if (!res.ok) {
      ok = false;
      console.error(`${url}: HTTP ${res.status} ${body}`);
    } else {
      console.log(`${url}: ${body}`);
    }
  } catch (err) {
    ok = false;
    console.error(`${url}: ${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)}`);
  }
}
process.exit(ok ? 0 : 1);
