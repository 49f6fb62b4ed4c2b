/**
 * `LIVEMASK_S3_URL`: where the S3 back end stores, in one URL. Pure.
 *
 *     http(s)://[ACCESS_KEY:SECRET@]host[:port]/bucket[/prefix][?region=us-east-1]
 *
 * The credentials are percent-decoded; without them the SDK's default chain
 * (AWS_ACCESS_KEY_ID..., instance roles) is used. Requests are path-style
 * (`host/bucket/key`), which self-hosted servers need. Nothing here ever puts
 * the credentials in a message: see {@link describeS3Location}.
 */

export interface S3Location {
  /** `http(s)://host[:port]`, without credentials. */
  endpoint: string;
  bucket: string;
  /** Prepended to every key: '' or parts ending with '/', e.g. `livemask/`. */
  prefix: string;
  region: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export const S3_URL_FORM = 'http(s)://[key:secret@]host[:port]/bucket[/prefix][?region=R]';

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_PART_RE = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$/;

/** Parses the URL; the problem (never echoing the URL, which may hold a secret) when it is not one. */
export function parseS3Url(text: string): { location: S3Location } | { problem: string } {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return { problem: `must be a URL of the form ${S3_URL_FORM}` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { problem: `must start with http:// or https:// (${S3_URL_FORM})` };
  }
  const [bucket = '', ...rest] = url.pathname.replace(/^\/+/, '').replace(/\/+$/, '').split('/');
  if (!BUCKET_RE.test(bucket)) {
    return { problem: `must name a bucket (3-63 of a-z 0-9 . -) as its first path part (${S3_URL_FORM})` };
  }
  if (rest.some((p) => !PREFIX_PART_RE.test(p))) {
    return { problem: 'has a key prefix with an empty part, a part starting with a dot, or characters other than A-Z a-z 0-9 . _ ~ -' };
  }
  if (url.hash !== '' || [...url.searchParams.keys()].some((k) => k !== 'region')) {
    return { problem: 'may carry only ?region=... after the path' };
  }
  const region = url.searchParams.get('region') ?? 'us-east-1';
  if (!/^[a-z0-9-]{1,64}$/.test(region)) {
    return { problem: 'has a region that is not 1-64 of a-z 0-9 -' };
  }
  if ((url.username === '') !== (url.password === '')) {
    return { problem: 'must give both the access key and the secret (key:secret@host), or neither' };
  }
  let credentials: S3Location['credentials'];
  if (url.username !== '') {
    try {
      credentials = { accessKeyId: decodeURIComponent(url.username), secretAccessKey: decodeURIComponent(url.password) };
    } catch {
      return { problem: 'has credentials that are not valid percent-encoding' };
    }
  }
  return {
    location: {
      endpoint: `${url.protocol}//${url.host}`,
      bucket,
      prefix: rest.length > 0 ? `${rest.join('/')}/` : '',
      region,
      ...(credentials ? { credentials } : {}),
    },
  };
}

/** `s3://host[:port]/bucket/prefix`: safe to log (no credentials). */
export function describeS3Location(location: S3Location): string {
  return `s3://${new URL(location.endpoint).host}/${location.bucket}/${location.prefix}`;
}
