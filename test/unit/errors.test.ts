/**
 * Error codes: every code in src/ is listed in docs/errors.md and every code
 * listed there is one src/ has; the loaders, the bridges and the write path
 * raise ServiceIocErrors with the code that says what went wrong.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAcf } from '../../src/access/acf';
import { PutLog } from '../../src/access/putlog';
import { Command, DbrType, Eca } from '../../src/ca/protocol/constants';
import * as m from '../../src/ca/protocol/messages';
import { Circuit, DEFAULT_CIRCUIT_OPTIONS } from '../../src/ca/server/circuit';
import { ConfigError, serverConfigFromEnv } from '../../src/ca/server/config';
import { ServiceIocError, errorCode } from '../../src/errors';
import { parseConfig } from '../../src/ioc/config';
import { buildServiceIoc } from '../../src/ioc/service-ioc';
import { memoryLogger } from '../../src/log';
import { ScriptedClient } from '../helpers/ca-client';
import { duplexPair } from '../helpers/duplex-pair';
import { FakeSystemd } from '../helpers/fake-systemd';
import { REPO_ROOT } from '../helpers/golden';
import { pvProbe } from '../helpers/pv-probe';

const CODE = /^[A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+$/;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? sourceFiles(p) : d.name.endsWith('.ts') ? [p] : [];
  });
}

/** The codes the code names: quoted string literals, where errors are thrown and their code types declared. */
function codesInSource(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of sourceFiles(path.join(REPO_ROOT, 'src'))) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/'([A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+)'/g)) {
      if (!found.has(m[1])) found.set(m[1], path.relative(REPO_ROOT, file));
    }
  }
  return found;
}

/** The codes docs/errors.md lists: the first cell of a table row. */
function codesInDocs(): Set<string> {
  const text = fs.readFileSync(path.join(REPO_ROOT, 'docs/errors.md'), 'utf8');
  const listed = new Set<string>();
  for (const m of text.matchAll(/^\| `([^`]+)` \|/gm)) {
    assert.match(m[1], CODE, `docs/errors.md lists "${m[1]}", which is not a code`);
    assert.ok(!listed.has(m[1]), `docs/errors.md lists ${m[1]} twice`);
    listed.add(m[1]);
  }
  return listed;
}

function thrown(fn: () => unknown): ServiceIocError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ServiceIocError, `not a ServiceIocError: ${String(err)}`);
    return err;
  }
  return assert.fail('nothing was thrown');
}

describe('error codes', () => {
  it('every code in src/ is listed in docs/errors.md, and every listed code is in src/', () => {
    const inSource = codesInSource();
    const inDocs = codesInDocs();
    const undocumented = [...inSource].filter(([c]) => !inDocs.has(c)).map(([c, f]) => `${c} (${f})`);
    const stale = [...inDocs].filter((c) => !inSource.has(c));
    assert.deepEqual(undocumented, [], 'codes in src/ that docs/errors.md does not list');
    assert.deepEqual(stale, [], 'codes docs/errors.md lists that src/ does not have');
  });

  it('the configuration, .acf and environment loaders say what is wrong by code', () => {
    assert.equal(thrown(() => parseConfig('[ioc]\nprefix = "bl:"\nprefx = 1\n', 'a.toml')).code, 'CONFIG_ERR_UNKNOWN_KEY');
    assert.equal(thrown(() => parseConfig('[ioc]\nprefix = "bl:\n', 'a.toml')).code, 'CONFIG_ERR_TOML');
    assert.equal(thrown(() => parseConfig('[ioc]\nbus = "user"\n', 'a.toml')).code, 'CONFIG_ERR_MISSING_KEY');
    assert.equal(thrown(() => parseConfig('[ioc]\nprefix = "bl:"\n[[unit]]\nname = "a.service"\npv = "a"\n[[unit]]\nname = "b.service"\npv = "a"\n', 'a.toml')).code,
      'CONFIG_ERR_DUPLICATE');
    assert.equal(thrown(() => parseConfig('[ioc]\nprefix = "bl:"\n[[redis]]\npv = "r"\nbogus = 1\n', 'a.toml')).code, 'CONFIG_ERR_UNKNOWN_KEY');
    assert.equal(thrown(() => parseAcf('ASG(X) { RULE(1, WRITE) { UAG(nobody) } }', 'a.acf')).code, 'ACF_ERR_UNDEFINED_GROUP');
    assert.equal(thrown(() => parseAcf('ASG(X) { RULE(1, WRITE) } ASG(X) { RULE(1, READ) }', 'a.acf')).code, 'ACF_ERR_DUPLICATE');
    assert.equal(thrown(() => parseAcf('ASG(X) { RULE(1, FLY) }', 'a.acf')).code, 'ACF_ERR_SYNTAX');
    const env = thrown(() => serverConfigFromEnv({ EPICS_CA_SERVER_PORT: '70000' }));
    assert.ok(env instanceof ConfigError);
    assert.equal(env.code, 'ENV_ERR_BAD_VALUE');
  });

  it('a .db record whose link the device support refuses: DB_ERR_DEVICE with the link\'s reason', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'errors-'));
    try {
      fs.writeFileSync(path.join(dir, 'bad.db'), 'record(bi, "$(P)x") { field(DTYP, "systemd") field(INP, "redis.service Running") }\n');
      const config = parseConfig('[ioc]\nprefix = "bl:"\ndb = ["bad.db"]\n', path.join(dir, 'a.toml'));
      const err = thrown(() => buildServiceIoc(config, memoryLogger(), new FakeSystemd()));
      assert.equal(err.code, 'DB_ERR_DEVICE');
      assert.match(err.message, /bad\.db:1:.*link "redis\.service Running": expected "@UNIT PROPERTY"/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a unit control written while systemd is not reachable fails with SYSTEMD_ERR_NOT_CONNECTED, which the put log names', async () => {
    const fake = new FakeSystemd();
    fake.addUnit('redis.service', { ActiveState: 'inactive' });
    const config = parseConfig('[ioc]\nprefix = "bl:"\n[[unit]]\nname = "redis.service"\npv = "redis"\n', 'a.toml');
    const ioc = buildServiceIoc(config, memoryLogger(), Object.assign(fake, { start: () => undefined }));
    const { put, value } = pvProbe(() => ioc.database, 'bl:');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'errors-'));
    const putlog = new PutLog({ file: path.join(dir, 'puts.jsonl'), format: 'json', log: memoryLogger() });
    ioc.database.start();
    try {
      const err: unknown = await put('redis:Start', 1).then(() => undefined, (e: unknown) => e);
      assert.equal(errorCode(err), 'SYSTEMD_ERR_NOT_CONNECTED');
      assert.match(String(value('redis:Message')), /Start redis\.service refused: not connected/);

      // The same write from a CA client: ECA_PUTFAIL back, and the code in the put log's line.
      const [server, end] = duplexPair();
      new Circuit(server, ioc.database, memoryLogger(), '10.0.0.5', { ...DEFAULT_CIRCUIT_OPTIONS, audit: putlog.audit });
      const client = new ScriptedClient(end);
      client.send(m.clientVersion(), m.clientNameMessage('alice'), m.hostNameMessage('opi1'), m.createChanRequest('bl:redis:Start', 1));
      const sid = (await client.waitFor((x) => x.command === Command.CREATE_CHAN)).parameter2;
      const one = Buffer.alloc(8);
      one.writeUInt16BE(1, 0);
      client.send(m.writeRequest(true, DbrType.ENUM, 1, sid, 3, one));
      const reply = await client.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 3);
      assert.equal(reply.parameter1, Eca.PUTFAIL);
      const line = JSON.parse(fs.readFileSync(path.join(dir, 'puts.jsonl'), 'utf8').trim().split('\n').pop()!) as Record<string, unknown>;
      assert.deepEqual([line.user, line.pv, line.code], ['alice', 'bl:redis:Start', 'SYSTEMD_ERR_NOT_CONNECTED']);
      assert.match(String(line.result), /^failed: Start redis\.service refused: not connected/);
    } finally {
      putlog.close();
      ioc.database.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
