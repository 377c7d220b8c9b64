/**
 * Device support "ioc": facts about this IOC process, for records such as
 * `$(P)IOC:Heartbeat` (INP "@heartbeat", SCAN "1 second").
 *   @heartbeat  longin, +1 on every scan
 *   @uptime     ai/longin, seconds since start
 *   @version    stringin, the service-ioc version
 *   @starttime  stringin, ISO time of start
 *   @health     bi, 1 when every watched service is as expected (see HealthAggregator)
 *   @healthmessage  lsi/stringin, why not: each cause, worst first
 *   @putlog     bi, 1 while the put log file can be written
 *   @linger     bi, 1 while the user's manager lingers (read on every scan)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeviceBinding, DeviceRecord, DeviceSupport } from '../database/device';
import type { HealthAggregator } from './health';
import { currentUser, isLingering, lingerDirFromEnv } from '../systemd/linger';

/**
 * The version in the package's package.json: two directories up from this
 * file as built into dist/ioc, three from build/src/ioc (the tests' build).
 */
export const VERSION = packageVersion();

function packageVersion(): string {
  for (const up of ['../..', '../../..']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, up, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'service-ioc' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not there: the next place
    }
  }
  return 'unknown';
}

/** What @putlog shows. */
export interface PutLogStatus {
  readonly ok: boolean;
  onStatus(listener: (ok: boolean) => void): () => void;
}

/** Whether the user's manager lingers, as @linger reads it: logind's file for this process's user by default. */
export type LingerProbe = () => boolean;

const defaultLingerProbe: LingerProbe = () => isLingering(currentUser(), lingerDirFromEnv());

export function iocDeviceSupport(startedAt = Date.now(), health?: HealthAggregator, putlog?: PutLogStatus, linger: LingerProbe = defaultLingerProbe): DeviceSupport {
  return {
    dtyp: 'ioc',
    recordTypes: ['longin', 'ai', 'stringin', 'lsi', 'bi'],
    bind(record: DeviceRecord, link: string): DeviceBinding {
      const what = link.trim().replace(/^@/, '');
      switch (what) {
        case 'heartbeat': {
          let beats = 0;
          return { read: () => record.update(++beats) };
        }
        case 'uptime':
          return { read: () => record.update(Math.round((Date.now() - startedAt) / 1000)) };
        case 'version':
          record.update(VERSION);
          return { read: () => record.update(VERSION) };
        case 'starttime': {
          const iso = new Date(startedAt).toISOString().replace(/\.\d+Z$/, 'Z');
          record.update(iso);
          return { read: () => record.update(iso) };
        }
        case 'health':
          if (!health) throw new Error(`INP "${link}": this IOC watches no services`);
          health.attach(record);
          return { close: () => health.detach(record) };
        case 'healthmessage':
          if (!health) throw new Error(`INP "${link}": this IOC watches no services`);
          health.attachMessage(record);
          return { close: () => health.detachMessage(record) };
        case 'putlog': {
          record.update(putlog ? (putlog.ok ? 1 : 0) : 1);
          const off = putlog?.onStatus((ok) => record.update(ok ? 1 : 0));
          return { close: () => off?.() };
        }
        case 'linger': {
          const read = (): void => record.update(linger() ? 1 : 0);
          read();
          return { read };
        }
        default:
          throw new Error(`INP "${link}": expected @heartbeat, @uptime, @version, @starttime, @health, @healthmessage, @putlog or @linger`);
      }
    },
  };
}
