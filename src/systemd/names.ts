/**
 * systemd's D-Bus names: object paths of units (bus-label.c escaping) and
 * the state vocabularies the PVs use, in the order the PVs enumerate them.
 */

export const SYSTEMD_SERVICE = 'org.freedesktop.systemd1';
export const MANAGER_PATH = '/org/freedesktop/systemd1';
export const MANAGER_IFACE = 'org.freedesktop.systemd1.Manager';
export const UNIT_IFACE = 'org.freedesktop.systemd1.Unit';
export const SERVICE_IFACE = 'org.freedesktop.systemd1.Service';
export const PROPERTIES_IFACE = 'org.freedesktop.DBus.Properties';
export const UNIT_PATH_PREFIX = '/org/freedesktop/systemd1/unit/';

/** Every byte outside [A-Za-z0-9], and a leading digit, becomes `_xx` (bus_label_escape). */
export function escapeBusLabel(s: string): string {
  if (s === '') return '_';
  let out = '';
  const bytes = Buffer.from(s, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (alnum && !(i === 0 && c >= 0x30 && c <= 0x39)) out += String.fromCharCode(c);
    else out += '_' + c.toString(16).padStart(2, '0');
  }
  return out;
}

export function unescapeBusLabel(label: string): string {
  if (label === '_') return '';
  const bytes: number[] = [];
  for (let i = 0; i < label.length; i++) {
    if (label[i] === '_' && i + 2 < label.length + 0 && /^[0-9a-f]{2}$/.test(label.slice(i + 1, i + 3))) {
      bytes.push(parseInt(label.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(label.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export function unitPath(name: string): string {
  return UNIT_PATH_PREFIX + escapeBusLabel(name);
}

/** ActiveState values, in the order of the ActiveState mbbi's states. */
export const ACTIVE_STATES = ['inactive', 'active', 'activating', 'deactivating', 'failed', 'reloading', 'maintenance', 'refreshing'] as const;
export type ActiveState = (typeof ACTIVE_STATES)[number];

/** LoadState values that make a unit's status PVs INVALID. */
export const BAD_LOAD_STATES: ReadonlySet<string> = new Set(['not-found', 'bad-setting', 'error', 'masked']);

export { isValidUnitName } from '../unit-name';
