/**
 * The shared reference tools beside the clone (`../shared`: the EPICS base
 * bundle and the catvs conformance suite), as CI lays them out. A git
 * worktree elsewhere finds them beside its main checkout.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './pyca';

function candidates(): string[] {
  const out = [path.resolve(REPO_ROOT, '../shared')];
  const r = spawnSync('git', ['-C', REPO_ROOT, 'rev-parse', '--path-format=absolute', '--git-common-dir'], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim()) out.push(path.resolve(path.dirname(r.stdout.trim()), '../shared'));
  return out;
}

let cached: string | undefined | null = null;

/** The `../shared` folder, or undefined when there is none. */
export function sharedDir(): string | undefined {
  if (cached === null) cached = candidates().find((d) => fs.existsSync(d));
  return cached;
}

/** The EPICS base bundle's bin/ (softIoc, caget, caRepeater...), if present. */
export function epicsBin(): string | undefined {
  const d = sharedDir();
  const bin = d && path.join(d, 'epics/bin');
  return bin && fs.existsSync(path.join(bin, 'softIoc')) ? bin : undefined;
}

/** The reason the EPICS bundle cannot be used, or undefined. */
export function checkEpicsBundle(): string | undefined {
  const bin = epicsBin();
  if (!bin) return `no EPICS base bundle at ${path.resolve(REPO_ROOT, '../shared/epics')}`;
  const r = spawnSync(path.join(bin, 'caget'), ['-h'], { encoding: 'utf8', timeout: 10000 });
  if (r.error) return `${bin}/caget is not runnable: ${r.error.message}`;
  if (/error while loading shared libraries/.test(r.stderr)) return `${bin}/caget: ${r.stderr.trim()} (see .ci/apt-packages.txt)`;
  return undefined;
}

/** softIoc's database definition in the bundle (softIoc needs -D first). */
export function softIocDbd(): string {
  return path.resolve(epicsBin()!, '../dbd/softIoc.dbd');
}

/** The reason the bundle's pvxs programs (softIocPVX, pvxget ...) cannot be used, or undefined. */
export function checkPvxsBundle(): string | undefined {
  const bin = epicsBin();
  if (!bin) return `no EPICS bundle at ${path.resolve(REPO_ROOT, '../shared/epics')}`;
  if (!fs.existsSync(path.join(bin, 'softIocPVX'))) return `${bin} has no softIocPVX`;
  const r = spawnSync(path.join(bin, 'pvxget'), ['-V'], { encoding: 'utf8', timeout: 10000 });
  if (r.error) return `${bin}/pvxget is not runnable: ${r.error.message}`;
  if (/error while loading shared libraries/.test(r.stderr)) return `${bin}/pvxget: ${r.stderr.trim()} (see .ci/apt-packages.txt)`;
  return undefined;
}

/** softIocPVX's database definition in the bundle (it needs -D first). */
export function softIocPvxDbd(): string {
  return path.resolve(epicsBin()!, '../dbd/softIocPVX.dbd');
}
