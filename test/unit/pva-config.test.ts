/**
 * How the pvAccess server is configured: the EPICS_PVAS_* variables and
 * their EPICS_PVA_* fallbacks as pvxs picks them, and `[ioc] pva` in the
 * IOC's configuration file.
 */
import { strict as assert } from 'node:assert';
import { parseConfig } from '../../src/ioc/config';
import { pvaConfigFromEnv } from '../../src/pva/server/config';

describe('PVA server environment (as pvxs server::Config reads it)', () => {
  it('defaults: TCP 5075, UDP 5076, every interface, beacons to the broadcast addresses', () => {
    const c = pvaConfigFromEnv({});
    assert.equal(c.serverPort, 5075);
    assert.equal(c.broadcastPort, 5076);
    assert.deepEqual(c.interfaces, []);
    assert.deepEqual(c.beaconAddrList, []);
    assert.equal(c.autoBeaconAddrList, true);
  });

  it('EPICS_PVAS_* wins over EPICS_PVA_*, which is used when the first is unset', () => {
    const both = pvaConfigFromEnv({
      EPICS_PVAS_SERVER_PORT: '6075', EPICS_PVA_SERVER_PORT: '7075',
      EPICS_PVAS_BROADCAST_PORT: '6076', EPICS_PVA_BROADCAST_PORT: '7076',
      EPICS_PVAS_BEACON_ADDR_LIST: '10.0.0.255', EPICS_PVA_ADDR_LIST: '127.0.0.1',
      EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO', EPICS_PVA_AUTO_ADDR_LIST: 'YES',
    });
    assert.deepEqual([both.serverPort, both.broadcastPort, both.beaconAddrList, both.autoBeaconAddrList],
      [6075, 6076, [{ host: '10.0.0.255', port: 6076 }], false]);
    const fallback = pvaConfigFromEnv({
      EPICS_PVA_SERVER_PORT: '7075', EPICS_PVA_BROADCAST_PORT: '7076', EPICS_PVA_ADDR_LIST: '127.0.0.1 127.0.0.2:9000', EPICS_PVA_AUTO_ADDR_LIST: 'no',
    });
    assert.deepEqual([fallback.serverPort, fallback.broadcastPort, fallback.beaconAddrList, fallback.autoBeaconAddrList],
      [7075, 7076, [{ host: '127.0.0.1', port: 7076 }, { host: '127.0.0.2', port: 9000 }], false]);
  });

  it('a variable set to nothing still counts as set: an empty beacon list hides EPICS_PVA_ADDR_LIST', () => {
    const c = pvaConfigFromEnv({ EPICS_PVAS_BEACON_ADDR_LIST: '', EPICS_PVA_ADDR_LIST: '127.0.0.1', EPICS_PVAS_SERVER_PORT: '', EPICS_PVA_SERVER_PORT: '7075' });
    assert.deepEqual(c.beaconAddrList, []);
    assert.equal(c.serverPort, 5075, 'an empty port keeps the default, as pvxs does');
  });

  it('the interface list has no EPICS_PVA_* fallback; it is what the server binds', () => {
    assert.deepEqual(pvaConfigFromEnv({ EPICS_PVA_INTF_ADDR_LIST: '127.0.0.1' }).interfaces, []);
    assert.deepEqual(pvaConfigFromEnv({ EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1:5075 ' }).interfaces, ['127.0.0.1']);
  });

  it('a value that is no port or no YES/NO stops the server, naming the variable', () => {
    assert.throws(() => pvaConfigFromEnv({ EPICS_PVA_SERVER_PORT: 'http' }), /EPICS_PVA_SERVER_PORT: expected a port number 0\.\.65535, got "http"/);
    assert.throws(() => pvaConfigFromEnv({ EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'maybe' }), /EPICS_PVAS_AUTO_BEACON_ADDR_LIST: expected YES or NO, got "maybe"/);
  });
});

describe('[ioc] pva in the configuration file', () => {
  it('is on unless pva = false', () => {
    assert.equal(parseConfig('[ioc]\nprefix = "a:"\n', 'ioc.toml').pva, true);
    assert.equal(parseConfig('[ioc]\nprefix = "a:"\npva = false\n', 'ioc.toml').pva, false);
  });

  it('anything but true or false stops with the file, the line and the key', () => {
    assert.throws(() => parseConfig('[ioc]\nprefix = "a:"\n\npva = "no"\n', 'ioc.toml'),
      (e: Error) => e.message === 'ioc.toml:4: key "pva" must be true or false (serve pvAccess as well as Channel Access), not "no"' || assert.fail(e.message));
  });
});
