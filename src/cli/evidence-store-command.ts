import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LivemaskError, type Logger } from '../core/index.js';
import { parseStoreConfig } from '../server/index.js';
import { fetchSessions, openStore } from '../storage/index.js';
import { EXIT } from './exit-codes.js';

/**
 * `livemask evidence fetch <room> [--session S] --to <dir> [--data ./data]`:
 * downloads a room's sessions from the configured store (`LIVEMASK_STORE`,
 * `LIVEMASK_S3_URL`) into `<dir>/evidence/<room>/<session>/...`, laid out
 * like an evidence root, so that `livemask evidence verify <room> --data <dir>`
 * checks what the store holds. It never overwrites a file that holds other
 * bytes. Exit codes: 0 fetched, 2 bad usage or configuration, 3 nothing in
 * the store for that room or session, 1 a store failure.
 */
export async function evidenceFetchCommand(args: string[], logger: Logger): Promise<number> {
  const { values, positionals } = parseFetchArgs(args);
  const room = positionals[0];
  if (room === undefined || positionals.length > 1 || values.to === undefined) {
    throw new LivemaskError('BAD_USAGE', 'evidence fetch needs exactly one <room> and --to <dir>');
  }
  const config = parseStoreConfig();
  const dataDir = resolve(values.data ?? process.env.LIVEMASK_DATA ?? './data');
  const store = openStore(config, join(dataDir, 'evidence'), logger);
  const to = resolve(values.to);
  try {
    const result = await fetchSessions(store, { room, to: join(to, 'evidence'), ...(values.session !== undefined ? { sessionId: values.session } : {}) });
    const n = result.sessions.length;
    for (const s of result.unsealed) {
      process.stdout.write(`left out ${s}: the store holds no manifest.sig for it (still being recorded, or copied in part)\n`);
    }
    process.stdout.write(
      `fetched room ${room}: ${n} session${n === 1 ? '' : 's'}, ${result.files} files, ${result.bytes} bytes from ${store.id} into ${join(to, 'evidence')}\n` +
        `check it with: livemask evidence verify ${room} --data ${to}\n`,
    );
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

function parseFetchArgs(args: string[]): { values: { data?: string; session?: string; to?: string }; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { data: { type: 'string' }, session: { type: 'string' }, to: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals };
  } catch (err) {
    throw new LivemaskError('BAD_USAGE', err instanceof Error ? err.message : String(err));
  }
}
