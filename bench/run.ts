/**
 * `npm run bench`: runs every benchmark and prints its figures with the
 * targets they are measured against. Nothing here is asserted.
 */
import { benchCa, type Figure } from './ca';
import { benchSoftIoc } from './softioc';
import { benchSystemd } from './systemd';
import { benchDatabase } from './database';
import { benchQueueserver } from './queueserver';
import { benchPva } from './pva';

async function main(): Promise<void> {
  const only = process.argv[2];
  const suites: Array<[string, () => Promise<Figure[]>]> = [['softioc', benchSoftIoc], ['ca', benchCa], ['database', benchDatabase], ['systemd', benchSystemd], ['queueserver', benchQueueserver], ['pva', benchPva]];
  for (const [name, run] of suites) {
    if (only && only !== name) continue;
    process.stdout.write(`\n== ${name}\n`);
    for (const f of await run()) {
      process.stdout.write(`${f.measure}: ${f.value}${f.target ? `   [target ${f.target}]` : ''}\n`);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
