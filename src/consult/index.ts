/**
 * Video consultations: a booked Appointment becomes a room with a waiting
 * room; WebSocket signaling (protocol v1, ./PROTOCOL.md) relays the WebRTC
 * offer/answer/candidates between the admitted clinician and patient; every
 * join asks the policy (`video_call`); the call's Encounter (class VR) is
 * started at the first admit and finished at the end; chat is kept as
 * Communication; ICE servers carry coturn REST credentials; browsers' call
 * statistics become Prometheus histograms and a PHI-free per-call summary.
 */
export { ConsultService, createConsultService, type ConsultServiceOptions, type JoinInfo, type JoinInfoResult } from './service.ts';
export { ErrorCodes, RefusalReasons, CloseCodes, PROTOCOL_VERSION, CLIENT_FRAME_TYPES, parseFrame, type ErrorCode, type ClientFrame, type ServerFrame, type IceServer, type PeerInfo } from './protocol.ts';
export { IceServerMinter, turnCredential, type TurnOptions } from './turn.ts';
export { isTelehealthConsent, VIRTUAL_ENCOUNTER } from './records.ts';
export { CallQuality, ConsultMetrics, type CallSummary } from './quality.ts';
export type { ConsultEvents, ConsultEventName, Listener } from './events.ts';
export type { ConnectionLimits } from './connection.ts';
export { SignalingClient, type Received } from './client.ts';
