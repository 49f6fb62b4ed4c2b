import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../core/index.js';
import type { FleetWorker } from '../fleet/index.js';
import type { EvidenceWorker } from '../../workers/evidence-worker.js';
import {
  LivemaskServer,
  parseServerConfig,
  postRoomEvent,
  prepareDataDir,
  switchMask,
  type ServeFlags,
  type ServerConfig,
} from '../server/index.js';
import type { RoomRefusal } from '../server/room-gate.js';
import { EXIT } from './exit-codes.js';

/**
 * `livemask serve`: validates the configuration, listens, prints the URL on
 * stdout, and runs until SIGINT or SIGTERM, then stops gracefully. A second
 * signal during the stop gets Node's default handling (the process ends).
 * `logger` is the root logger: the server binds its own `module` fields.
 *
 * With LIVEMASK_REDIS_URL set it also joins the fleet (src/fleet/): it takes
 * up to LIVEMASK_CAPACITY rooms, and on the signal it drains the fleet
 * (hands its rooms back to other workers) before the server stops. While it
 * holds a room it relays the room's events and the client library's commands
 * (src/fleet/room-relay.ts), and it advertises `--public-url` (or
 * LIVEMASK_PUBLIC_URL; default the URL it listens on) as the room's URL.
 * It serves media and control only for the rooms it holds (room-gate.ts),
 * and on taking a room it first applies the masks the room's previous
 * holders stored, then logs `failover` or `handover`.
 */
export async function serve(flags: ServeFlags, logger: Logger): Promise<number> {
  const config = parseServerConfig(flags);
  await prepareDataDir(config.dataDir, flags.data !== undefined);
  const server = await LivemaskServer.create(config, logger);
  // A fleet worker is not ready, and serves no room, until it has joined (then it serves the rooms it holds).
  server.setJoining(config.redisUrl !== undefined);
  let fleet: FleetMembership | undefined;
  try {
    const url = await server.start();
    fleet = await joinFleet(config, server, url, logger);
    server.setJoining(false);
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

/** A worker's membership of the fleet: the room worker and the relay of its rooms' commands and events. */
interface FleetMembership {
  close(): Promise<void>;
}

/** Joins the fleet when Redis is configured; the fleet module is loaded only then. */
async function joinFleet(config: ServerConfig, server: LivemaskServer, url: string, logger: Logger): Promise<FleetMembership | undefined> {
  if (config.redisUrl === undefined) {
    return undefined;
  }
  const { FleetWorker, RoomRelay, registerFleetMetrics } = await import('../fleet/index.js');
  const workerId = `${hostname()}-${process.pid}`;
  const roomLogger = logger.child({ module: 'rooms' });
  // Only the rooms this worker holds are served here (src/server/room-gate.ts).
  const admitted = new Set<string>();
  const taking = new Map<string, Promise<void>>();
  const notHere = (room: string): RoomRefusal | undefined => admitted.has(room)
    ? undefined
    : { status: 409, message: `this worker does not hold room ${room}; the client library's startRoom gives the URL of the worker that does` };
  server.setRoomGate((room) => {
    const takeover = taking.get(room);
    return takeover ? takeover.then(() => notHere(room)) : notHere(room);
  });
  // Commands from the client library take the same code paths as the HTTP routes.
  const relay = await RoomRelay.start({
    redisUrl: config.redisUrl,
    workerId,
    logger,
    target: {
      setMask: (room, participant, masked) => switchMask(server.rooms, roomLogger, room, participant, masked),
      post: (room, event) => postRoomEvent(server.rooms, roomLogger, room, event.type, event.data ?? {}),
      subscribe: (room, listener, afterSeq) => server.rooms.subscribe(room, listener, afterSeq !== undefined ? { afterSeq } : {}),
    },
  });
  let evidence: EvidenceWorker | undefined;
  let fleet: FleetWorker<undefined>;
  try {
    evidence = await startEvidenceJobs(config, logger);
    fleet = await FleetWorker.start<undefined>({
      redisUrl: config.redisUrl,
      workerId,
      capacity: config.capacity ?? 4,
      publicUrl: config.publicUrl ?? advertisedUrl(url),
      logger,
      // Masks first, then the room is served: a participant re-publishing after a failover is masked from its first frame.
      onRoomAssigned: async ({ room, previous, failovers }) => {
        let done!: () => void;
        taking.set(room, new Promise<void>((resolve) => (done = resolve)));
        const since = server.rooms.lastSeq(room);
        try {
          for (const [participant, masked] of await relay.savedMasks(room)) {
            if (masked) {
              switchMask(server.rooms, roomLogger, room, participant, true);
            }
          }
          if (previous && previous.workerId !== workerId) {
            const from = { fromWorker: previous.workerId, toWorker: workerId };
            const event = previous.releasedAt !== undefined
              ? server.rooms.takeover(room, { type: 'handover', ...from, releasedAt: previous.releasedAt })
              : server.rooms.takeover(room, { type: 'failover', ...from, fromSince: previous.since, failovers });
            roomLogger.warn({ room, ...from, type: event.type }, 'took the room over from another worker');
          }
          admitted.add(room);
          await relay.hold(room, since); // relays the takeover's events, then announces the room
        } catch (err) {
          admitted.delete(room);
          throw err;
        } finally {
          taking.delete(room);
          done();
        }
        return undefined;
      },
      onRoomReleased: async (room, _handle, reason) => {
        admitted.delete(room);
        // Its publishers and viewers go: mask switches for the room now reach another worker only.
        const ended = server.live.endRoom(room);
        if (ended > 0) {
          roomLogger.info({ room, reason, sessions: ended }, 'ended the sessions of a room this worker let go');
        }
        await relay.release(room);
        if (reason === 'ended') {
          server.rooms.endRoom(room);
          await finalise(evidence, room, roomLogger);
        }
      },
    });
  } catch (err) {
    try {
      await evidence?.close();
    } finally {
      await relay.close();
    }
    throw err;
  }
  const worker = fleet;
  registerFleetMetrics(server.metrics.registry, {
    get heldCount() {
      return worker.heldCount;
    },
    capacity: worker.capacity,
    get redisConnected() {
      return worker.redisConnected && relay.redisConnected;
    },
  });
  return {
    close: async () => {
      try {
        await fleet.close();
      } finally {
        try {
          await evidence?.close();
        } finally {
          await relay.close();
        }
      }
    },
  };
}

/**
 * The evidence jobs of this worker's evidence node (workers/evidence-worker.ts):
 * the node is the host, so the workers of one host share its sweep. Started
 * only when this worker records evidence.
 */
async function startEvidenceJobs(config: ServerConfig, logger: Logger): Promise<EvidenceWorker | undefined> {
  if (!config.evidence || config.redisUrl === undefined) {
    return undefined;
  }
  const { EvidenceWorker: Jobs } = await import('../../workers/evidence-worker.js');
  const { loadEvidenceKeys } = await import('../evidence/index.js');
  const keys = await loadEvidenceKeys({ dataDir: config.dataDir, needSigning: true, logger });
  return Jobs.start({
    redisUrl: config.redisUrl,
    node: evidenceNode(),
    root: join(config.dataDir, 'evidence'),
    exportsDir: join(config.dataDir, 'exports'),
    cacheDir: join(config.dataDir, 'replay-cache'),
    exportRetentionDays: config.exportRetentionDays,
    publicKey: keys.publicKey,
    ...(keys.signingKey ? { signingKey: keys.signingKey } : {}),
    retentionDays: config.retentionDays,
    sweepEveryMs: config.sweepEveryHours * 3_600_000,
    logger,
  });
}

/** This host's evidence node: its host name, cut to the characters a queue name allows. */
export function evidenceNode(): string {
  return hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64) || 'localhost';
}

/** Queues the finalise flow of an ended room; a failure to queue is logged, the room is released anyway. */
async function finalise(evidence: EvidenceWorker | undefined, room: string, logger: Logger): Promise<void> {
  if (!evidence) {
    return;
  }
  try {
    const job = await evidence.finaliseRoom(room);
    logger.info({ room, job }, job === undefined ? 'room ended with no evidence here' : 'room evidence finalise queued');
  } catch (err) {
    logger.warn({ room, error: err instanceof Error ? err.message : String(err) }, 'could not queue the finalise of the room evidence');
  }
}

/** The listening URL, with a wildcard address (0.0.0.0, ::) replaced by the host name: what the fleet is told when --public-url is not set. */
function advertisedUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.hostname === '0.0.0.0' || parsed.hostname === '[::]') {
    parsed.hostname = hostname();
  }
  return parsed.href.replace(/\/$/, '');
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
