import type { Logger } from '../core/index.js';
import { LivemaskServer, parseServerConfig, prepareDataDir, type ServeFlags } from '../server/index.js';
import { EXIT } from './exit-codes.js';

/**
 * `livemask serve`: validates the configuration, listens, prints the URL on
 * stdout, and runs until SIGINT or SIGTERM, then stops gracefully. A second
 * signal during the stop gets Node's default handling (the process ends).
 * `logger` is the root logger: the server binds its own `module` fields.
 */
export async function serve(flags: ServeFlags, logger: Logger): Promise<number> {
  const config = parseServerConfig(flags);
  await prepareDataDir(config.dataDir, flags.data !== undefined);
  const server = await LivemaskServer.create(config, logger);
  try {
    const url = await server.start();
    process.stdout.write(`livemask serve: listening on ${url}${config.demo ? ' (demo mode)' : ''}\n`);
    if (config.demo) {
      process.stdout.write(`livemask serve: demo page at ${url}/\n`);
    }
    const signal = await nextSignal();
    logger.child({ module: 'serve' }).info({ signal }, 'signal received');
  } finally {
    await server.stop();
  }
  return EXIT.ok;
}

function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
