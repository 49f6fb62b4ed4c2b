import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/index.js';

function capture(): { stream: Writable; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter((l) => l !== '') };
}

describe('logger redaction of personal data', () => {
  const secrets = {
    idNumber: '110101199003074518',
    phone: '+86 138 0013 8000',
    resume: 'Ten years of Rust at ACME; MBA; lives at 5 Elm St',
  };

  it('never writes ID numbers, phone numbers or resume text, top level or nested', () => {
    const { stream, lines } = capture();
    const log = createLogger({ level: 'debug' }, stream);
    log.info({ ...secrets, room: 'r1' }, 'applicant connected');
    log.child({ participant: 'p1' }).warn({ applicant: { ...secrets, name: 'Li Lei', phoneNumber: '13800138000' } }, 'nested');
    log.debug({ id_number: secrets.idNumber, resumeText: secrets.resume, mobile: secrets.phone }, 'aliases');
    const out = lines();
    expect(out).toHaveLength(3);
    const text = out.join('\n');
    for (const value of [...Object.values(secrets), 'Li Lei', '13800138000']) {
      expect(text).not.toContain(value);
    }
    // The fields are still there, so a reader knows something was redacted,
    // and the non-personal context survives.
    const first = JSON.parse(out[0] ?? '{}') as Record<string, unknown>;
    expect(first.idNumber).toBe('[redacted]');
    expect(first.phone).toBe('[redacted]');
    expect(first.resume).toBe('[redacted]');
    expect(first.room).toBe('r1');
  });

  it('redacts bearer tokens in request headers', () => {
    const { stream, lines } = capture();
    const log = createLogger({}, stream);
    log.info({ req: { headers: { authorization: 'Bearer eyJhbGciOi.secret.sig' } } }, 'request');
    expect(lines().join('\n')).not.toContain('eyJhbGciOi');
  });
});
