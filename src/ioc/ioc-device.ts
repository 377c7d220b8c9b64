/**
 * Device support "ioc": facts about this IOC process, for records such as
 * `$(P)IOC:Heartbeat` (INP "@heartbeat", SCAN "1 second").
 *   @heartbeat  longin, +1 on every scan
 *   @uptime     ai/longin, seconds since start
 *   @version    stringin, the service-ioc version
 *   @starttime  stringin, ISO time of start
 */
import type { DeviceBinding, DeviceRecord, DeviceSupport } from '../database/device';

export const VERSION = '0.1.0';

export function iocDeviceSupport(startedAt = Date.now()): DeviceSupport {
  return {
    dtyp: 'ioc',
    recordTypes: ['longin', 'ai', 'stringin'],
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
        default:
          throw new Error(`INP "${link}": expected @heartbeat, @uptime, @version or @starttime`);
      }
    },
  };
}
