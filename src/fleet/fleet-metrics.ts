import { Gauge, type Registry } from 'prom-client';

/** What the fleet gauges read at each scrape. */
export interface FleetGaugeSource {
  readonly heldCount: number;
  readonly capacity: number;
}

/**
 * Adds `livemask_fleet_rooms_held` and `livemask_fleet_capacity` to a
 * registry (the server's own, never prom-client's global one). No labels: no
 * room id ever becomes a label.
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
}
