/**
 * What a systemd unit name looks like (systemd.unit(5): name.type, templates
 * and instances included). The configuration of every bridge that names the
 * unit running its service checks it here, so that no bridge imports another.
 */
export function isValidUnitName(name: string): boolean {
  return /^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(service|socket|target|timer|path|mount|automount|swap|slice|scope|device)$/.test(name) && name.length <= 255;
}
