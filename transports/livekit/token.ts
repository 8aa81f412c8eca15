/**
 * LiveKit access tokens: the short-lived one a browser joins its room with, and the agent's.
 */
import { randomBytes } from 'node:crypto';
import { AccessToken, TrackSource, type VideoGrant } from 'livekit-server-sdk';

/** Room names and identities the token endpoint accepts (and generates). */
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A user token lives 10 minutes: long enough to join, short enough to be worthless if leaked. */
export const USER_TOKEN_TTL_SECONDS = 600;
/** The agent's token only has to outlive its join; LiveKit refreshes it while connected. */
export const AGENT_TOKEN_TTL_SECONDS = 3600;

export const randomName = (prefix: string): string => `${prefix}-${randomBytes(6).toString('hex')}`;

/**
 * What a user needs and no more: join this one room, publish a microphone (no camera, no screen),
 * subscribe (to hear the agent), send data (text and control). No room creation, listing,
 * administration, recording, metadata updates or hidden/agent flags.
 */
export function userGrant(room: string): VideoGrant {
  return {
    roomJoin: true,
    room,
    canPublish: true,
    canPublishSources: [TrackSource.MICROPHONE],
    canSubscribe: true,
    canPublishData: true,
  };
}

/** The agent publishes its speech as audio (LiveKit has no "speech" source: microphone it is). */
export function agentGrant(room: string): VideoGrant {
  return { roomJoin: true, room, canPublish: true, canPublishSources: [TrackSource.MICROPHONE], canSubscribe: true, canPublishData: true };
}

export interface TokenKeys {
  apiKey: string;
  apiSecret: string;
}

export async function userToken(keys: TokenKeys, room: string, identity: string): Promise<string> {
  const at = new AccessToken(keys.apiKey, keys.apiSecret, { identity, ttl: USER_TOKEN_TTL_SECONDS });
  at.addGrant(userGrant(room));
  return at.toJwt();
}

export async function agentToken(keys: TokenKeys, room: string, identity: string): Promise<string> {
  const at = new AccessToken(keys.apiKey, keys.apiSecret, { identity, name: 'Voice agent', ttl: AGENT_TOKEN_TTL_SECONDS });
  at.kind = 'agent';
  at.addGrant(agentGrant(room));
  return at.toJwt();
}
