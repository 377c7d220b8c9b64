/**
 * A client that may not write, writing as fast as it can for 5 s: the put
 * log and the IOC's own output stay small (a summary line, not a line per
 * write), and another client's reads are answered all the while.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Command, DbrType } from '../../src/ca/protocol/constants';
import * as m from '../../src/ca/protocol/messages';
import { ScriptedClient } from '../helpers/ca-client';
import { CLI_JS, makeTempDir, removeTempDir, requireBuiltCli } from '../helpers/cli';
import { startProcess, type Managed } from '../helpers/processes';
import { serverEnv } from '../helpers/pyca';
import { freeCaPorts } from '../helpers/system';

const FLOOD_MS = 5000;
const MB = 1024 * 1024;

/** A circuit as `user` with one channel to `pv`; resolves with the client and the channel's sid. */
async function openChannel(port: number, user: string, pv: string): Promise<{ client: ScriptedClient; sock: net.Socket; sid: number }> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const client = new ScriptedClient(sock);
  client.send(Buffer.concat([m.clientVersion(), m.clientNameMessage(user), m.hostNameMessage('opi1'), m.createChanRequest(pv, 1)]));
  const reply = await client.waitFor((x) => x.command === Command.CREATE_CHAN, `CREATE_CHAN for ${pv}`, 10000);
  return { client, sock, sid: reply.parameter2 };
}

describe('put log under a flood of refused writes', function () {
  this.timeout(60000);
  let dir: string | undefined;
  let ioc: Managed | undefined;
  const sockets: net.Socket[] = [];

  before(() => requireBuiltCli());

  after(async () => {
    for (const s of sockets) s.destroy();
    await ioc?.stop();
    removeTempDir(dir);
  });

  it('grows the put log and the IOC output by less than 1 MB each, and reads are answered throughout', async () => {
    dir = makeTempDir('putlog-flood-');
    const putFile = path.join(dir, 'puts.jsonl');
    fs.writeFileSync(path.join(dir, 'flood.db'), 'record(ao, "$(P)setpoint") {\n  field(VAL, "1.5")\n  field(ASG, "OPS")\n}\n');
    fs.writeFileSync(path.join(dir, 'flood.acf'), 'UAG(ops) { op }\nASG(DEFAULT) { RULE(1, READ) }\nASG(OPS) {\n  RULE(1, READ)\n  RULE(1, WRITE, TRAPWRITE) { UAG(ops) }\n}\n');
    const cfg = path.join(dir, 'ioc.toml');
    fs.writeFileSync(cfg, '[ioc]\nprefix = "fl:"\niocstats = false\ndb = ["flood.db"]\n\n[access]\nfile = "flood.acf"\n\n[putlog]\nfile = "puts.jsonl"\n');
    const ports = await freeCaPorts();
    // No bus: the IOC warns about systemd now and then, which is part of its output too.
    ioc = startProcess(process.execPath, [CLI_JS, 'run', '-c', cfg], {
      ...serverEnv(ports.server, ports.repeater), SERVICE_IOC_LOG: 'info', DBUS_SESSION_BUS_ADDRESS: `unix:path=${dir}/no-bus`,
    });
    let output = 0;
    ioc.proc.stdout!.on('data', (d: Buffer) => { output += d.length; });
    ioc.proc.stderr!.on('data', (d: Buffer) => { output += d.length; });
    await ioc.waitLine(/CA on port \d+/, 20000);

    const reader = await openChannel(ports.server, 'viewer', 'fl:setpoint');
    const flooder = await openChannel(ports.server, 'nobody', 'fl:setpoint');
    sockets.push(reader.sock, flooder.sock);
    const logBefore = fs.statSync(putFile, { throwIfNoEntry: false })?.size ?? 0;
    const outputBefore = output;

    // The flood: batches of refused writes, as fast as the socket takes them. A batch
    // (24 kB) is more than the socket's high-water mark, so every write waits for
    // 'drain' and the reads below get their turns in this process too.
    const value = Buffer.alloc(8);
    value.writeDoubleBE(9);
    const one = m.writeRequest(false, DbrType.DOUBLE, 1, flooder.sid, 0, value);
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => one));
    const start = Date.now();
    let sent = 0;
    const flood = (async () => {
      while (Date.now() - start < FLOOD_MS && !flooder.client.ended) {
        sent += 1000;
        if (!flooder.sock.write(batch)) await new Promise<void>((resolve) => flooder.sock.once('drain', resolve));
      }
    })();

    // Meanwhile another client reads, one read after the other.
    const answered: number[] = [];
    let ioid = 100;
    while (Date.now() - start < FLOOD_MS) {
      const id = ++ioid;
      reader.client.send(m.readNotifyRequest(DbrType.DOUBLE, 1, reader.sid, id));
      const r = await reader.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === id, `read ${id}`, 20000);
      assert.equal(r.parameter1, 1, 'ECA_NORMAL');
      assert.equal(r.payload.readDoubleBE(0), 1.5, 'the refused writes changed nothing');
      answered.push(Date.now() - start);
    }
    await flood;
    assert.ok(sent >= 10_000, `only ${sent} writes sent`);
    // Reads were answered in every second of the flood.
    for (let s = 0; s < FLOOD_MS / 1000; s++) {
      assert.ok(answered.some((t) => t >= s * 1000 && t < (s + 1) * 1000), `no read answered in second ${s + 1}: ${answered.length} reads at ${answered.slice(0, 20).join(',')}...`);
    }

    const logGrowth = (fs.statSync(putFile, { throwIfNoEntry: false })?.size ?? 0) - logBefore;
    const outputGrowth = output - outputBefore;
    assert.ok(logGrowth < MB, `put log grew by ${logGrowth} bytes for ${sent} writes`);
    assert.ok(outputGrowth < MB, `IOC output grew by ${outputGrowth} bytes for ${sent} writes`);

    // Stopping writes the summary still pending: the refused writes are all accounted for.
    flooder.sock.destroy();
    reader.sock.destroy();
    assert.equal(await ioc.stop(10000), 0);
    const lines = fs.readFileSync(putFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const nobody = lines.filter((l) => l.user === 'nobody');
    assert.ok(nobody.length >= 2 && nobody.length <= 3, JSON.stringify(nobody));
    assert.deepEqual([nobody[0].pv, nobody[0].result, nobody[0].new, nobody[0].old], ['fl:setpoint', 'denied', 9, 1.5]);
    const counted = nobody.slice(1).reduce((n, l) => n + Number(l.count ?? 1), 1);
    assert.ok(counted > 1000, `only ${counted} refused writes logged: ${JSON.stringify(nobody)}`);
    assert.ok(counted <= sent, `${counted} logged, ${sent} sent`);
  });
});
