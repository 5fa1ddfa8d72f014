/**
 * The consultation signaling protocol, version 1: JSON text frames over one
 * WebSocket (`/ws/consult`), every frame `{ "v": 1, "type": ..., ... }`.
 * Client frames are validated one by one with zod; a frame that does not
 * parse gets an `error` frame with a stable {@link ErrorCodes} code and
 * changes nothing. The full table is in ./PROTOCOL.md.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;

/** Stable codes of `error` frames (documented in PROTOCOL.md; a test checks every one is). */
export const ErrorCodes = {
  badJson: 'bad_json',
  badFrame: 'bad_frame',
  unsupportedVersion: 'unsupported_version',
  unknownType: 'unknown_type',
  frameTooLarge: 'frame_too_large',
  rateLimited: 'rate_limited',
  unauthenticated: 'unauthenticated',
  authFailed: 'auth_failed',
  alreadyAuthenticated: 'already_authenticated',
  joinRefused: 'join_refused',
  notInRoom: 'not_in_room',
  notAdmitted: 'not_admitted',
  forbidden: 'forbidden',
  unknownParticipant: 'unknown_participant',
  peerUnavailable: 'peer_unavailable',
  unknownDocument: 'unknown_document',
  resumeFailed: 'resume_failed',
  internalError: 'internal_error',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * Reasons of a refused join (`error` frame with code `join_refused`), besides
 * the policy's own reason codes (`no_consent`, `role_not_allowed`, `data_not_local`, ...).
 */
export const RefusalReasons = {
  appointmentNotFound: 'appointment_not_found',
  appointmentNotActive: 'appointment_not_active',
  callEnded: 'call_ended',
  notAParticipant: 'not_a_participant',
  noPatient: 'appointment_without_patient',
} as const;
export type RefusalReason = (typeof RefusalReasons)[keyof typeof RefusalReasons];

/** WebSocket close codes the node uses (4000-4999 is the application range, RFC 6455 §7.4.2). */
export const CloseCodes = {
  goingAway: 1001,
  authFailed: 4401,
  helloTimeout: 4408,
} as const;

const id = z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/, 'a FHIR id');
const seat = z.string().regex(/^[A-Za-z0-9_-]{8,32}$/, 'a seat id');
const base = { v: z.literal(PROTOCOL_VERSION), ref: z.string().max(64).optional() };
const inRoom = { ...base, appointmentId: id };

const finite = z.number().finite();
/** An RTCIceCandidateInit, or null for end-of-candidates. */
const candidate = z
  .object({
    candidate: z.string().max(2048),
    sdpMid: z.string().max(64).nullable().optional(),
    sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional(),
    usernameFragment: z.string().max(256).nullable().optional(),
  })
  .strict()
  .nullable();

/** Every client → node frame, by type. */
export const ClientFrameSchemas = {
  hello: z.object({ ...base, type: z.literal('hello'), token: z.string().min(1).max(8192) }).strict(),
  join: z.object({ ...inRoom, type: z.literal('join') }).strict(),
  /** `fresh`: the client lost its RTCPeerConnection (a page reload), so the peers must build a new one rather than restart ICE. */
  resume: z.object({ ...inRoom, type: z.literal('resume'), resumeToken: z.string().min(16).max(128), fresh: z.boolean().optional() }).strict(),
  admit: z.object({ ...inRoom, type: z.literal('admit'), seat }).strict(),
  offer: z.object({ ...inRoom, type: z.literal('offer'), to: seat.optional(), sdp: z.string().min(1).max(48_000) }).strict(),
  answer: z.object({ ...inRoom, type: z.literal('answer'), to: seat.optional(), sdp: z.string().min(1).max(48_000) }).strict(),
  candidate: z.object({ ...inRoom, type: z.literal('candidate'), to: seat.optional(), candidate }).strict(),
  chat: z.object({ ...inRoom, type: z.literal('chat'), text: z.string().trim().min(1).max(4000) }).strict(),
  stats: z
    .object({
      ...inRoom,
      type: z.literal('stats'),
      /** Round-trip time in seconds (RTCIceCandidatePairStats.currentRoundTripTime). */
      rtt: finite.min(0).max(60).optional(),
      /** Inbound jitter in seconds (RTCInboundRtpStreamStats.jitter). */
      jitter: finite.min(0).max(60).optional(),
      /** Fraction of packets lost since the previous report, 0..1. */
      packetLoss: finite.min(0).max(1).optional(),
      /** Cumulative frames decoded of the remote video (RTCInboundRtpStreamStats.framesDecoded). */
      framesDecoded: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
      /** Receive bitrate in bits per second. */
      bitrate: finite.min(0).max(1e10).optional(),
    })
    .strict(),
  /** This seat's microphone and camera are on or off (the toggles): relayed to the other admitted seats, so they can say so. */
  media: z.object({ ...inRoom, type: z.literal('media'), audio: z.boolean(), video: z.boolean() }).strict(),
  /** Shares a DocumentReference already stored on the node (uploaded through the FHIR endpoint). */
  document: z.object({ ...inRoom, type: z.literal('document'), documentReference: id }).strict(),
  /** A clinician follows an appointment's waiting room without taking a seat (`lobby` frames until `unwatch` or the end). */
  watch: z.object({ ...inRoom, type: z.literal('watch') }).strict(),
  unwatch: z.object({ ...inRoom, type: z.literal('unwatch') }).strict(),
  leave: z.object({ ...inRoom, type: z.literal('leave') }).strict(),
  end: z.object({ ...inRoom, type: z.literal('end') }).strict(),
  ping: z.object({ ...base, type: z.literal('ping'), t: finite.optional() }).strict(),
} as const;

export type ClientFrameType = keyof typeof ClientFrameSchemas;
export type ClientFrame = { [K in ClientFrameType]: z.infer<(typeof ClientFrameSchemas)[K]> }[ClientFrameType];
export type FrameOf<K extends ClientFrameType> = z.infer<(typeof ClientFrameSchemas)[K]>;
export const CLIENT_FRAME_TYPES = Object.keys(ClientFrameSchemas) as ClientFrameType[];
const isClientType = (t: unknown): t is ClientFrameType => typeof t === 'string' && Object.hasOwn(ClientFrameSchemas, t);

/** An ICE server as RTCPeerConnection takes it (https://www.w3.org/TR/webrtc/#rtciceserver-dictionary). */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** What a peer in the room is, as others see it. */
export interface PeerInfo {
  seat: string;
  user: string;
  role: string;
  connected: boolean;
}

/** Every node → client frame (without `v`, which {@link encode} adds). */
export type ServerFrame =
  | { type: 'welcome'; user: { id: string; role: string }; heartbeatMs: number; graceMs: number; ref?: string }
  | { type: 'waiting'; appointmentId: string; seat: string; resumeToken: string; ref?: string }
  | { type: 'lobby'; appointmentId: string; waiting: Array<{ seat: string; user: string; waitingSeconds: number; connected: boolean }>; ref?: string }
  | { type: 'admitted'; appointmentId: string; seat: string; resumeToken: string; resumed: boolean; iceServers: IceServer[]; iceTransportPolicy?: 'relay'; peers: PeerInfo[]; encounter?: string; ref?: string }
  | { type: 'peer-joined'; appointmentId: string; peer: PeerInfo }
  | { type: 'peer-left'; appointmentId: string; seat: string; reason: string }
  | { type: 'peer-disconnected'; appointmentId: string; seat: string; graceMs: number }
  | { type: 'ice-restart'; appointmentId: string; seat: string; fresh: boolean }
  | { type: 'offer' | 'answer'; appointmentId: string; from: string; sdp: string }
  | { type: 'candidate'; appointmentId: string; from: string; candidate: FrameOf<'candidate'>['candidate'] }
  | { type: 'chat'; appointmentId: string; from: string; user: string; id: string; text: string; sent: string; ref?: string }
  | { type: 'media'; appointmentId: string; from: string; audio: boolean; video: boolean }
  | { type: 'document'; appointmentId: string; from: string; id: string; title?: string; contentType?: string; ref?: string }
  | { type: 'left'; appointmentId: string; reason: string; ref?: string }
  | { type: 'ended'; appointmentId: string; reason: string; encounter?: string }
  | { type: 'pong'; t?: number; ref?: string }
  | { type: 'error'; code: ErrorCode; message: string; reason?: string; appointmentId?: string; ref?: string };

export function encode(frame: ServerFrame): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, ...frame });
}

export type ParseResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: ErrorCode; message: string; ref?: string; type?: string };

/**
 * Parses one text frame. Never throws. Messages name the offending field
 * paths only, never the values (a frame may carry PHI or a token).
 */
export function parseFrame(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: ErrorCodes.badJson, message: 'the frame is not valid JSON' };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, code: ErrorCodes.badFrame, message: 'a frame is a JSON object' };
  }
  const obj = raw as Record<string, unknown>;
  const ref = typeof obj.ref === 'string' && obj.ref.length <= 64 ? obj.ref : undefined;
  const withRef = ref === undefined ? {} : { ref };
  if (obj.v !== PROTOCOL_VERSION) {
    return { ok: false, code: ErrorCodes.unsupportedVersion, message: `this node speaks protocol v${PROTOCOL_VERSION}`, ...withRef };
  }
  if (!isClientType(obj.type)) {
    return { ok: false, code: ErrorCodes.unknownType, message: 'unknown frame type', ...withRef };
  }
  const result = ClientFrameSchemas[obj.type].safeParse(raw);
  if (!result.success) {
    const fields = [...new Set(result.error.issues.map((i) => i.path.map(String).join('.') || '(frame)'))].slice(0, 5);
    return { ok: false, code: ErrorCodes.badFrame, message: `invalid ${obj.type} frame: check ${fields.join(', ')}`, type: obj.type, ...withRef };
  }
  return { ok: true, frame: result.data as ClientFrame };
}
