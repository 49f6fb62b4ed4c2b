import { z } from 'zod';

/** Which worker holds a room, as stored under the room's assignment key. */
export interface RoomAssignment {
  room: string;
  workerId: string;
  /** Where the worker can be reached (WHIP/WHEP base URL), when it advertises one. */
  publicUrl?: string;
  /** ISO 8601 time this worker took the room. */
  since: string;
}

const StoredSchema = z.object({
  room: z.string(),
  workerId: z.string(),
  publicUrl: z.string().optional(),
  since: z.string(),
});

export function encodeAssignment(a: RoomAssignment): string {
  return JSON.stringify(a);
}

/** Parses a stored assignment; undefined when it is missing or unreadable. */
export function decodeAssignment(text: string | null): RoomAssignment | undefined {
  if (text === null) {
    return undefined;
  }
  try {
    const parsed = StoredSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      return undefined;
    }
    const { publicUrl, ...rest } = parsed.data;
    return publicUrl !== undefined ? { ...rest, publicUrl } : rest;
  } catch {
    return undefined;
  }
}
