#!/usr/bin/env node
// A real S3-compatible server for the S3 store's contract tests: s3rver (the
// maintained fork @20minutes/s3rver, a devDependency), on 127.0.0.1 with its
// objects in a temp directory and one bucket. It has no Object Lock: S3Store
// detects that and stores without retention.
//
//   node --openssl-legacy-provider scripts/s3-server.mjs [--port 0] [--bucket livemask-evidence] [--dir DIR]
//
// s3rver makes its list continuation tokens with DES, which OpenSSL 3 keeps in
// its legacy provider: without the flag every paginated list fails (500).
//
// s3rver canonicalises a bucket request's path without the trailing slash that
// AWS SDK v3 sends and signs in path style (`GET /bucket/?list-type=2`), so it
// refused every list with SignatureDoesNotMatch. The shim below gives its V4
// signer the path as sent; signatures are still checked on every request.
//
// s3rver also writes an object in place, so a client killed mid-upload left
// half an object visible, which S3 never does (a PUT is all or nothing). The
// second shim has it write a temp file and rename it once the body is whole.
//
// Prints one line on stdout once it listens, the value for LIVEMASK_S3_URL
// (s3rver's fixed test credentials, S3RVER:S3RVER), and runs until SIGTERM or
// SIGINT; the temp directory is removed then (a --dir given is kept).
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import S3rver from '@20minutes/s3rver';

try {
  createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
} catch {
  process.stderr.write('s3-server: DES is not available: run it as node --openssl-legacy-provider scripts/s3-server.mjs\n');
  process.exit(2);
}

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, bucket: { type: 'string', default: 'livemask-evidence' }, dir: { type: 'string' } },
  strict: true,
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  process.stderr.write(`s3-server: --port must be 0-65535, got ${values.port}\n`);
  process.exit(2);
}
const ownDir = values.dir === undefined;
const directory = values.dir ?? mkdtempSync(join(tmpdir(), 'livemask-s3rver-'));

// The path each request was sent with, by its headers object (s3rver's signer sees only the headers).
const sentPaths = new WeakMap();
const v4 = createRequire(import.meta.url)('@20minutes/s3rver/lib/signature/v4.js');
const getStringToSign = v4.getStringToSign;
v4.getStringToSign = (canonical, request) => {
  const sent = sentPaths.get(canonical.headers);
  const uri = sent !== undefined && sent === `${canonical.uri}/` ? sent : canonical.uri;
  return getStringToSign({ ...canonical, uri }, request);
};

const FilesystemStore = createRequire(import.meta.url)('@20minutes/s3rver/lib/stores/filesystem.js');
const putContent = FilesystemStore.prototype.putContent;
FilesystemStore.prototype.putContent = async function putContentWhole(objectPath, content) {
  // s3rver lists only names ending in `._S3rver_object`: the temp name is never listed.
  const temp = `${objectPath}.${randomBytes(6).toString('hex')}.partial`;
  try {
    const result = await putContent.call(this, temp, content);
    await rename(temp, objectPath);
    return result;
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
};

const s3rver = new S3rver({ silent: true, directory, configureBuckets: [{ name: values.bucket }] });
// s3rver's own logger is silenced (it writes to stdout); its internal errors go to stderr.
// A client that went away mid-request (the killed-write test does that) is not a server fault.
const clientGone = (err) => err?.message === 'aborted' || err?.code === 'ECONNRESET' || String(err?.code ?? '').startsWith('HPE_');
s3rver.on('error', (err) => {
  const status = Number(err?.status ?? 500);
  if (status >= 500 && status !== 501 && !clientGone(err)) {
    process.stderr.write(`s3-server: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
});
const handle = s3rver.callback();
const server = createServer((req, res) => {
  sentPaths.set(req.headers, (req.url ?? '/').split('?')[0]);
  handle(req, res);
});

let stopping = false;
function stop(code) {
  if (stopping) {
    return;
  }
  stopping = true;
  const done = () => {
    if (ownDir) {
      rmSync(directory, { recursive: true, force: true });
    }
    process.exit(code);
  };
  server.close(done);
  server.closeAllConnections();
}
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));

try {
  await s3rver.configureBuckets();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  process.stdout.write(`http://S3RVER:S3RVER@127.0.0.1:${server.address().port}/${values.bucket}\n`);
} catch (err) {
  process.stderr.write(`s3-server: cannot start s3rver: ${err instanceof Error ? err.message : String(err)}\n`);
  if (ownDir) {
    rmSync(directory, { recursive: true, force: true });
  }
  process.exit(1);
}
