import { Gauge, type Registry } from 'prom-client';

/** What the fleet gauges read at each scrape. */
export interface FleetGaugeSource {
  readonly heldCount: number;
  readonly capacity: number;
  /** Every Redis connection of the worker is up. */
  readonly redisConnected: boolean;
}

/**
 * Adds `livemask_fleet_rooms_held`, `livemask_fleet_capacity` and
 * `livemask_fleet_redis_connected` (1 while every fleet connection to Redis
 * is up, 0 while ioredis reconnects) to a registry (the server's own, never
 * prom-client's global one). No labels: no room id ever becomes a label.
 * Readiness (`/readyz`) does not follow Redis: live media does not need it.
 */
export function registerFleetMetrics(registry: Registry, source: FleetGaugeSource): void {
  new Gauge({
    name: 'livemask_fleet_rooms_held',
    help: 'Fleet rooms this worker holds now',
    registers: [registry],
    collect() {
      this.set(source.heldCount);
    },
  });
  new Gauge({
    name: 'livemask_fleet_capacity',
    help: 'Fleet rooms this worker may hold at once',
    registers: [registry],
    collect() {
      this.set(source.capacity);
    },
  });
  new Gauge({
    name: 'livemask_fleet_redis_connected',
    help: '1 while every fleet connection of this worker to Redis is up, 0 while one reconnects',
    registers: [registry],
    collect() {
      this.set(source.redisConnected ? 1 : 0);
    },
  });
}
