import { hostname } from 'node:os';
import type { Logger } from '../core/index.js';
import type { FleetWorker } from '../fleet/index.js';
import { LivemaskServer, parseServerConfig, prepareDataDir, type ServeFlags, type ServerConfig } from '../server/index.js';
import { EXIT } from './exit-codes.js';

/**
 * `livemask serve`: validates the configuration, listens, prints the URL on
 * stdout, and runs until SIGINT or SIGTERM, then stops gracefully. A second
 * signal during the stop gets Node's default handling (the process ends).
 * `logger` is the root logger: the server binds its own `module` fields.
 *
 * With LIVEMASK_REDIS_URL set it also joins the fleet (src/fleet/): it takes
 * up to LIVEMASK_CAPACITY rooms, and on the signal it drains the fleet
 * (hands its rooms back to other workers) before the server stops.
 */
export async function serve(flags: ServeFlags, logger: Logger): Promise<number> {
  const config = parseServerConfig(flags);
  await prepareDataDir(config.dataDir, flags.data !== undefined);
  const server = await LivemaskServer.create(config, logger);
  let fleet: FleetWorker<undefined> | undefined;
  try {
    const url = await server.start();
    fleet = await joinFleet(config, server, url, logger);
    process.stdout.write(`livemask serve: listening on ${url}${config.demo ? ' (demo mode)' : ''}\n`);
    if (config.demo) {
      process.stdout.write(`livemask serve: demo page at ${url}/\n`);
    }
    const signal = await nextSignal();
    logger.child({ module: 'serve' }).info({ signal }, 'signal received');
  } finally {
    try {
      await fleet?.close();
    } finally {
      await server.stop();
    }
  }
  return EXIT.ok;
}

/** Starts the fleet worker when Redis is configured; the fleet module is loaded only then. */
async function joinFleet(config: ServerConfig, server: LivemaskServer, url: string, logger: Logger): Promise<FleetWorker<undefined> | undefined> {
  if (config.redisUrl === undefined) {
    return undefined;
  }
  const { FleetWorker, registerFleetMetrics } = await import('../fleet/index.js');
  const fleet = await FleetWorker.start<undefined>({
    redisUrl: config.redisUrl,
    workerId: `${hostname()}-${process.pid}`,
    capacity: config.capacity ?? 4,
    publicUrl: url,
    logger,
    // The media hand-off of a fleet room is not wired yet: the worker holds the slot.
    onRoomAssigned: () => undefined,
    onRoomReleased: (room, _handle, reason) => {
      if (reason === 'ended') {
        server.rooms.endRoom(room);
      }
    },
  });
  registerFleetMetrics(server.metrics.registry, fleet);
  return fleet;
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
