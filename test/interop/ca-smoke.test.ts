import { strict as assert } from 'node:assert';
import { startTestServer, type TestServer } from '../helpers/ca-fixture';
import { clientEnv, PyCa } from '../helpers/pyca';
import { checkPyepics, requireDependency } from '../helpers/system';

describe('smoke: libca against the CA server', function () {
  let server: TestServer;
  let client: PyCa;
  before(async function () {
    requireDependency(this, checkPyepics());
    server = await startTestServer();
    client = await PyCa.start(clientEnv(server.port, server.repeaterPort));
  });
  after(async () => {
    await client?.stop();
    await server?.stop();
  });
  it('connects and gets a double', async () => {
    const r = await client.request('connect', { pv: 'test:double' });
    assert.equal(r.connected, true);
    const g = await client.request('get', { pv: 'test:double' });
    console.log(JSON.stringify(g));
  });
});
