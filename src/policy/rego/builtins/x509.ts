/**
 * X.509 helpers (opa `topdown/crypto.go`): key pairs and RSA private keys via
 * Node's crypto, certificate requests via a small DER reader (subject only).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { fromJS, RObject, type Value } from '../value.ts';
import { decodeBase64 } from './encoding.ts';
import { builtinErr, str } from './types.ts';

/** PEM text as given, or base64 of PEM / DER. */
function pemOrDer(fn: string, s: string): { pem?: string; der?: Buffer } {
  if (s.includes('-----BEGIN')) return { pem: s };
  const raw = decodeBase64(fn, s.replace(/\s+/g, ''));
  const text = raw.toString('latin1');
  return text.includes('-----BEGIN') ? { pem: text } : { der: raw };
}

interface TLV {
  tag: number;
  body: Buffer;
  end: number;
}

function tlv(buf: Buffer, off: number): TLV {
  if (off + 2 > buf.length) throw new Error('asn1: structure error: truncated');
  const tag = buf[off]!;
  let len = buf[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > buf.length) throw new Error('asn1: structure error: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > buf.length) throw new Error('asn1: structure error: data truncated');
  return { tag, body: buf.subarray(p, p + len), end: p + len };
}

function children(body: Buffer): TLV[] {
  const out: TLV[] = [];
  for (let off = 0; off < body.length; ) {
    const t = tlv(body, off);
    out.push(t);
    off = t.end;
  }
  return out;
}

const NAME_OIDS: Record<string, string> = {
  '550403': 'CommonName', '550406': 'Country', '55040a': 'Organization', '55040b': 'OrganizationalUnit',
  '550407': 'Locality', '550408': 'Province', '550409': 'StreetAddress', '550411': 'PostalCode', '550405': 'SerialNumber',
};

function parseCSR(der: Buffer): Value {
  const top = tlv(der, 0);
  if (top.tag !== 0x30) throw new Error('asn1: structure error: tags don\'t match');
  const [info] = children(top.body);
  if (!info || info.tag !== 0x30) throw new Error('asn1: structure error: tags don\'t match');
  const [, subject] = children(info.body);
  if (!subject || subject.tag !== 0x30) throw new Error('asn1: structure error: tags don\'t match');
  const s: Record<string, unknown> = { CommonName: '', SerialNumber: '', Country: [], Organization: [], OrganizationalUnit: [], Locality: [], Province: [], StreetAddress: [], PostalCode: [] };
  for (const set of children(subject.body)) {
    for (const atv of children(set.body)) {
      const [oid, val] = children(atv.body);
      if (!oid || !val) continue;
      const field = NAME_OIDS[oid.body.toString('hex')];
      if (!field) continue;
      const text = val.body.toString('utf8');
      if (field === 'CommonName' || field === 'SerialNumber') s[field] = text;
      else (s[field] as string[]).push(text);
    }
  }
  return fromJS({ Subject: s, Version: 0 });
}

function pemBlocks(pem: string, type: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${type}-----([\\s\\S]*?)-----END ${type}-----`, 'g');
  return [...pem.matchAll(re)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

const DN_FIELDS: Record<string, string> = { CN: 'CommonName', O: 'Organization', OU: 'OrganizationalUnit', C: 'Country', L: 'Locality', ST: 'Province', street: 'StreetAddress', postalCode: 'PostalCode', serialNumber: 'SerialNumber' };

/** A distinguished name as Go's pkix.Name fields. */
function pkixName(dn: string): Record<string, unknown> {
  const out: Record<string, unknown> = { CommonName: '', SerialNumber: '', Country: [], Organization: [], OrganizationalUnit: [], Locality: [], Province: [], StreetAddress: [], PostalCode: [] };
  for (const line of dn.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const field = DN_FIELDS[line.slice(0, eq)];
    if (!field) continue;
    const v = line.slice(eq + 1);
    if (field === 'CommonName' || field === 'SerialNumber') out[field] = v;
    else (out[field] as string[]).push(v);
  }
  return out;
}

/** The fields of Go's x509.Certificate that policies use (subject, issuer, validity, SANs). */
function certJSON(c: X509Certificate): Record<string, unknown> {
  const sans = (c.subjectAltName ?? '').split(', ').filter(Boolean);
  const san = (prefix: string): string[] => sans.filter((x) => x.startsWith(prefix)).map((x) => x.slice(prefix.length));
  return {
    Version: 3,
    SerialNumber: BigInt('0x' + c.serialNumber),
    Subject: pkixName(c.subject),
    Issuer: pkixName(c.issuer),
    NotBefore: new Date(c.validFrom).toISOString().replace('.000Z', 'Z'),
    NotAfter: new Date(c.validTo).toISOString().replace('.000Z', 'Z'),
    IsCA: c.ca,
    DNSNames: san('DNS:'),
    EmailAddresses: san('email:'),
    IPAddresses: san('IP Address:'),
    URIStrings: san('URI:'),
    Raw: c.raw.toString('base64'),
  };
}

function certificates(fn: string, s: string): X509Certificate[] {
  const { pem, der } = pemOrDer(fn, s);
  const blobs = pem ? pemBlocks(pem, 'CERTIFICATE') : der ? [der] : [];
  if (blobs.length === 0) throw builtinErr(fn, 'failed to parse a PEM certificate');
  try {
    return blobs.map((b) => new X509Certificate(b));
  } catch (e) {
    throw builtinErr(fn, (e as Error).message);
  }
}

export const x509Impls = {
  'crypto.x509.parse_certificates': ([a]: Value[]): Value => {
    const fn = 'crypto.x509.parse_certificates';
    return fromJS(certificates(fn, str(fn, a, 1)).map(certJSON));
  },
  'crypto.x509.parse_and_verify_certificates': ([a]: Value[]): Value => {
    const fn = 'crypto.x509.parse_and_verify_certificates';
    let certs: X509Certificate[];
    try {
      certs = certificates(fn, str(fn, a, 1));
    } catch {
      return [false, []];
    }
    // order: root first, leaf last (OPA's convention); each must be issued and signed by the one before
    const now = Date.now();
    for (let i = 0; i < certs.length; i++) {
      const c = certs[i]!;
      const issuer = i === 0 ? c : certs[i - 1]!;
      const inDate = Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo);
      if (!inDate || !c.checkIssued(issuer) || !c.verify(issuer.publicKey)) return [false, []];
    }
    return [true, fromJS(certs.map(certJSON))];
  },
  'crypto.x509.parse_certificate_request': ([a]: Value[]): Value => {
    const fn = 'crypto.x509.parse_certificate_request';
    const { pem, der } = pemOrDer(fn, str(fn, a, 1));
    const bytes = pem ? pemBlocks(pem, 'CERTIFICATE REQUEST')[0] : der;
    if (!bytes) throw builtinErr(fn, 'invalid PEM-encoded certificate signing request');
    try {
      return parseCSR(bytes);
    } catch (e) {
      throw builtinErr(fn, (e as Error).message);
    }
  },
  'crypto.x509.parse_keypair': ([c, k]: Value[]): Value => {
    const fn = 'crypto.x509.parse_keypair';
    const cert = pemOrDer(fn, str(fn, c, 1)).pem;
    const key = pemOrDer(fn, str(fn, k, 2)).pem;
    if (!cert || !key) throw builtinErr(fn, 'failed to parse certificate or key');
    try {
      const x = new X509Certificate(cert);
      if (!x.checkPrivateKey(createPrivateKey(key))) throw new Error('tls: private key does not match public key');
    } catch (e) {
      throw builtinErr(fn, (e as Error).message);
    }
    const out = new RObject();
    out.set('Certificate', pemBlocks(cert, 'CERTIFICATE').map((b) => b.toString('base64')));
    out.set('PrivateKey', new RObject());
    out.set('Leaf', null);
    return out;
  },
  'crypto.x509.parse_rsa_private_key': ([a]: Value[]): Value => {
    const fn = 'crypto.x509.parse_rsa_private_key';
    const { pem } = pemOrDer(fn, str(fn, a, 1));
    if (!pem) throw builtinErr(fn, 'failed to parse PEM block containing the key');
    try {
      return fromJS(createPrivateKey(pem).export({ format: 'jwk' }));
    } catch (e) {
      throw builtinErr(fn, (e as Error).message);
    }
  },
};
