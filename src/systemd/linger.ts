/**
 * Whether a user's systemd manager lingers: runs from boot, without a login
 * session, and goes on after the user's last session ends. Without it a
 * user unit such as service-ioc.service stops at logout and starts only at
 * the next login. systemd-logind keeps the setting as an empty file per user
 * in /var/lib/systemd/linger (`loginctl enable-linger USER` creates it;
 * `loginctl show-user USER --property=Linger` reads the same file), so its
 * existence is the answer, read without a bus call.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where systemd-logind keeps the lingering users. */
export const DEFAULT_LINGER_DIR = '/var/lib/systemd/linger';

/** The directory read: $SERVICE_IOC_LINGER_DIR, else logind's. */
export function lingerDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.SERVICE_IOC_LINGER_DIR || DEFAULT_LINGER_DIR;
}

/** The user whose manager runs this process's user units. */
export function currentUser(): string {
  return os.userInfo().username;
}

/** True when `user`'s manager lingers. */
export function isLingering(user: string, dir: string = DEFAULT_LINGER_DIR): boolean {
  return fs.existsSync(path.join(dir, user));
}

/** The warning `check` and `run` print when lingering is off. */
export function lingerWarning(user: string): string {
  return `lingering is off for user ${user}: the user manager, and service-ioc with it, stops when ${user}'s last session ends ` +
    `and starts only at the next login; turn it on with: loginctl enable-linger ${user}`;
}
