import { describe, expect, it } from 'vitest';
import { portInUse, portInUseMessage } from '../../platform/port-in-use.js';

describe('port in use', () => {
  it("reads the port from Node's listen error and from grpc-js's bind message", () => {
    expect(portInUse(Object.assign(new Error('listen EADDRINUSE: address already in use 0.0.0.0:8080'), { code: 'EADDRINUSE', port: 8080 }))).toBe(8080);
    expect(portInUse(new Error('No address added out of total 1 resolved errors: [listen EADDRINUSE: address already in use 0.0.0.0:7001]'))).toBe(7001);
    expect(portInUse(new Error('listen EADDRINUSE: address already in use :::9090'))).toBe(9090);
    expect(portInUse(new Error('connect ECONNREFUSED 127.0.0.1:7001'))).toBeUndefined();
    expect(portInUse('EADDRINUSE')).toBeUndefined();
  });

  it('names the setting for a known port, and only then', () => {
    const err = new Error('listen EADDRINUSE: address already in use 0.0.0.0:8080');
    expect(portInUseMessage(err, { 8080: 'ORCH_WS_PORT' })).toMatch(/^Port 8080 \(ORCH_WS_PORT\) is already in use: .* pick another port with ORCH_WS_PORT;/);
    expect(portInUseMessage(err, {})).toMatch(/^Port 8080 is already in use: .* pick another port; /);
    expect(portInUseMessage(new Error('something else'), { 8080: 'ORCH_WS_PORT' })).toBeUndefined();
  });
});
