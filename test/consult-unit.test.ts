/**
 * Consultation pieces without a node: the frame parser, TURN credentials,
 * the consent rule, the quality summary, and the error-code table.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { CallQuality, ConsultMetrics, ErrorCodes, IceServerMinter, RefusalReasons, isTelehealthConsent, parseFrame, turnCredential } from '../src/consult/index.ts';

describe('frame parser', () => {
  const codeOf = (text: string) => {
    const r = parseFrame(text);
    return r.ok ? 'ok' : r.code;
  };

  test('accepts well-formed frames of every kind it knows', () => {
    assert.equal(codeOf('{"v":1,"type":"ping"}'), 'ok');
    assert.equal(codeOf('{"v":1,"type":"join","appointmentId":"a-1"}'), 'ok');
    assert.equal(codeOf('{"v":1,"type":"candidate","appointmentId":"a-1","candidate":null}'), 'ok');
    assert.equal(codeOf('{"v":1,"type":"candidate","appointmentId":"a-1","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0}}'), 'ok');
    assert.equal(codeOf('{"v":1,"type":"stats","appointmentId":"a-1","rtt":0.02,"packetLoss":0.01,"framesDecoded":300}'), 'ok');
    assert.equal(codeOf('{"v":1,"type":"media","appointmentId":"a-1","audio":false,"video":true}'), 'ok');
  });

  test('names each kind of bad input with its own stable code', () => {
    assert.equal(codeOf('{not json'), ErrorCodes.badJson);
    assert.equal(codeOf('[1,2]'), ErrorCodes.badFrame);
    assert.equal(codeOf('null'), ErrorCodes.badFrame);
    assert.equal(codeOf('{"v":2,"type":"ping"}'), ErrorCodes.unsupportedVersion);
    assert.equal(codeOf('{"type":"ping"}'), ErrorCodes.unsupportedVersion);
    assert.equal(codeOf('{"v":1,"type":"teleport"}'), ErrorCodes.unknownType);
    assert.equal(codeOf('{"v":1,"type":"__proto__"}'), ErrorCodes.unknownType);
    assert.equal(codeOf('{"v":1,"type":"toString"}'), ErrorCodes.unknownType);
    assert.equal(codeOf('{"v":1,"type":"join","appointmentId":"../etc"}'), ErrorCodes.badFrame);
    assert.equal(codeOf('{"v":1,"type":"join","appointmentId":"a-1","extra":1}'), ErrorCodes.badFrame);
    assert.equal(codeOf('{"v":1,"type":"stats","appointmentId":"a-1","packetLoss":2}'), ErrorCodes.badFrame);
    assert.equal(codeOf('{"v":1,"type":"chat","appointmentId":"a-1","text":"   "}'), ErrorCodes.badFrame);
  });

  test('an error message names the field, never the value (values may be PHI)', () => {
    const r = parseFrame('{"v":1,"type":"chat","appointmentId":"a-1","text":123456789}');
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.message.includes('text'));
    assert.ok(!r.ok && !r.message.includes('123456789'));
  });

  test('echoes the client ref on errors, so the client can match the answer', () => {
    const r = parseFrame('{"v":1,"type":"nope","ref":"r-7"}');
    assert.ok(!r.ok && r.ref === 'r-7');
  });
});

describe('TURN credentials (coturn use-auth-secret)', () => {
  test('username is expiry:tag, password base64(HMAC-SHA1(secret, username)) (vector computed with openssl)', () => {
    const c = turnCredential('north-sea-turn-secret', 'seat-abc', 1_700_003_600);
    assert.equal(c.username, '1700003600:seat-abc');
    assert.equal(c.credential, 'otriQB9yF8DAoOg6ii+ZT7jqpMc=');
  });

  test('mints STUN (derived from the TURN hosts) and TURN with an expiry ttl seconds ahead', () => {
    const m = new IceServerMinter({ urls: 'turn:turn.local:3478?transport=udp, turns:turn.local:5349', secret: 'north-sea-turn-secret', ttlSeconds: 600 });
    const servers = m.mint('seat-abc', 1_700_000_000_000);
    assert.deepEqual(servers[0], { urls: ['stun:turn.local:3478'] });
    assert.deepEqual(servers[1]?.urls, ['turn:turn.local:3478?transport=udp', 'turns:turn.local:5349']);
    assert.equal(servers[1]?.username, '1700000600:seat-abc');
    assert.equal(servers[1]?.credential, turnCredential('north-sea-turn-secret', 'seat-abc', 1_700_000_600).credential);
  });

  test('no TURN configured: no ICE servers (host candidates only)', () => {
    assert.deepEqual(new IceServerMinter(undefined).mint('x'), []);
  });

  test('refuses bad settings at construction', () => {
    assert.throws(() => new IceServerMinter({ urls: 'http://x', secret: 'north-sea-turn-secret' }), /turn:/);
    assert.throws(() => new IceServerMinter({ urls: 'turn:x', secret: 'short' }), /secret/);
    assert.throws(() => new IceServerMinter({ urls: 'turn:x', secret: 'north-sea-turn-secret', ttlSeconds: 5 }), /lifetime/);
  });
});

describe('consent rule', () => {
  const now = Date.parse('2026-05-01T10:00:00Z');
  const consent = (over: Record<string, unknown> = {}) => ({
    resourceType: 'Consent',
    id: 'c1',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }], text: 'Telehealth consultations' }],
    patient: { reference: 'Patient/p1' },
    ...over,
  });

  test('an active telehealth consent of the patient counts', () => {
    assert.equal(isTelehealthConsent(consent(), 'Patient/p1', now), true);
    assert.equal(isTelehealthConsent(consent({ category: [{ coding: [{ system: 'urn:x', code: 'telemedicine' }] }] }), 'Patient/p1', now), true);
  });

  test('inactive, another patient, a deny, out of period, or not about telehealth: does not', () => {
    assert.equal(isTelehealthConsent(consent({ status: 'inactive' }), 'Patient/p1', now), false);
    assert.equal(isTelehealthConsent(consent({ status: 'rejected' }), 'Patient/p1', now), false);
    assert.equal(isTelehealthConsent(consent(), 'Patient/p2', now), false);
    assert.equal(isTelehealthConsent(consent({ provision: { type: 'deny' } }), 'Patient/p1', now), false);
    assert.equal(isTelehealthConsent(consent({ provision: { type: 'permit', period: { end: '2026-04-30T00:00:00Z' } } }), 'Patient/p1', now), false);
    assert.equal(isTelehealthConsent(consent({ provision: { type: 'permit', period: { start: '2026-06-01' } } }), 'Patient/p1', now), false);
    assert.equal(isTelehealthConsent(consent({ category: [{ text: 'Research' }] }), 'Patient/p1', now), false);
  });
});

describe('call quality summary', () => {
  test('aggregates reports, counts frames decoded by delta, and holds no identifiers', () => {
    const registry = new Registry();
    const q = new CallQuality('call-x', new ConsultMetrics(registry));
    q.report('seat-a', { v: 1, type: 'stats', appointmentId: 'a', rtt: 0.02, jitter: 0.004, packetLoss: 0, framesDecoded: 100, bitrate: 800_000 });
    q.report('seat-a', { v: 1, type: 'stats', appointmentId: 'a', rtt: 0.04, jitter: 0.006, packetLoss: 0.02, framesDecoded: 250 });
    q.report('seat-b', { v: 1, type: 'stats', appointmentId: 'a', framesDecoded: 50 });
    const s = q.summary(125.4);
    assert.equal(s.reports, 3);
    assert.equal(s.framesDecoded, 300);
    assert.deepEqual(s.rttSeconds, { mean: 0.03, min: 0.02, max: 0.04 });
    assert.equal(s.quality, 'good');
    assert.equal(s.durationSeconds, 125);
    assert.doesNotMatch(JSON.stringify(s), /seat-|Patient|Practitioner/);
    const poor = new CallQuality('call-y', new ConsultMetrics(new Registry()));
    poor.report('s', { v: 1, type: 'stats', appointmentId: 'a', packetLoss: 0.2 });
    assert.equal(poor.summary().quality, 'poor');
    assert.equal(new CallQuality('z', new ConsultMetrics(new Registry())).summary().quality, 'unknown');
  });
});

describe('error codes', () => {
  test('every error code and refusal reason is documented in PROTOCOL.md', () => {
    const doc = readFileSync(new URL('../src/consult/PROTOCOL.md', import.meta.url), 'utf8');
    for (const code of [...Object.values(ErrorCodes), ...Object.values(RefusalReasons)]) {
      assert.ok(doc.includes(`| \`${code}\` |`), `${code} is not in the table of PROTOCOL.md`);
    }
  });
});
