/**
 * The PV reference of the README, generated from the record templates in
 * db/ (parsed with the IOC's own .db parser), so the documentation cannot
 * drift from what the IOC serves:
 *
 *   service-ioc pv-table                    print the Markdown
 *   service-ioc pv-table --readme README.md rewrite the block between the markers
 *
 * A unit test fails when README.md's block differs from the generated one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDbText, type DbRecordStatement } from '../database/dbfile/parser';
import { parseOptions, type UsageErrorFactory } from './command-args';
import { DB_DIR } from './databases';

export const PV_TABLE_START = '<!-- pv-table:start -->';
export const PV_TABLE_END = '<!-- pv-table:end -->';

export interface PvTableRow {
  /** The record name after the prefix, e.g. `<pv>:ActiveState`. */
  name: string;
  type: string;
  description: string;
  /** What a write does, for output records: "1 Start"; undefined for status PVs. */
  control?: string;
}

export interface PvTemplate {
  /** e.g. db/unit.db */
  file: string;
  /** The template's first comment line, up to "Macros:". */
  title: string;
  /** When the IOC loads it. */
  loaded: string;
  rows: PvTableRow[];
}

/** Templates that are not the service IOC's own records. */
const NOT_SERVICE_TEMPLATES = new Set(['demo.db']);
/** Templates in the order the IOC loads them; others follow by name. */
const LOAD_ORDER = ['ioc.db', 'iocstats.db', 'unit.db', 'unit-control.db', 'queueserver.db', 'queueserver-control.db', 'redis.db'];
const OUTPUT_TYPES = new Set(['ao', 'bo', 'mbbo', 'longout', 'stringout', 'lso', 'int64out', 'mbbodirect']);
const MBB_STATES = ['ZR', 'ON', 'TW', 'TH', 'FR', 'FV', 'SX', 'SV', 'EI', 'NI', 'TE', 'EL', 'TV', 'TT', 'FT', 'FF'];

/**
 * Placeholders for the templates' macros: the prefix is left out (every
 * name starts with it), the rest become <name> as the README explains.
 */
function placeholders(text: string): Map<string, string> {
  const macros = new Map<string, string>([['P', ''], ['N', '<pv>'], ['UNIT', '<unit>']]);
  for (const m of text.matchAll(/\$[({]([A-Za-z0-9_]+)([=,)}])/g)) {
    // A macro with a default keeps it.
    if (!macros.has(m[1]) && m[2] !== '=') macros.set(m[1], `<${m[1].toLowerCase()}>`);
  }
  return macros;
}

function loadedWhen(file: string): string {
  const base = file.replace(/\.db$/, '');
  if (base === 'ioc') return 'once';
  if (base === 'iocstats') return 'once, unless `[ioc] iocstats = false`';
  const control = /^(.*)-control$/.exec(base);
  return control ? `for each \`[[${control[1]}]]\` with \`control = true\`` : `for each \`[[${base}]]\``;
}

/** What writing the record does: its named states, "1 Start" or "0 Off, 1 On". */
function controlText(rec: DbRecordStatement, fields: Map<string, string>): string | undefined {
  if (!OUTPUT_TYPES.has(rec.type.value)) return undefined;
  const states: string[] = [];
  if (rec.type.value === 'bo') {
    [fields.get('ZNAM'), fields.get('ONAM')].forEach((s, i) => { if (s) states.push(`${i} ${s}`); });
  } else if (rec.type.value === 'mbbo') {
    MBB_STATES.forEach((p, i) => {
      const s = fields.get(`${p}ST`);
      if (s) states.push(`${i} ${s}`);
    });
  }
  return states.length > 0 ? states.join(', ') : 'yes';
}

export function readPvTemplate(file: string, dbDir: string = DB_DIR): PvTemplate {
  const text = fs.readFileSync(path.join(dbDir, file), 'utf8');
  const rows: PvTableRow[] = [];
  for (const s of parseDbText(text, { file, macros: placeholders(text) })) {
    if (s.kind !== 'record') continue;
    const fields = new Map<string, string>();
    for (const item of s.items) if (item.kind === 'field') fields.set(item.name.value, item.value.value);
    rows.push({ name: s.name.value, type: s.type.value, description: fields.get('DESC') ?? '', control: controlText(s, fields) });
  }
  const first = /^#\s*(.*)$/m.exec(text)?.[1] ?? '';
  return { file: `db/${file}`, title: first.replace(/\s*Macros:.*$/, '').trim(), loaded: loadedWhen(file), rows };
}

/** The service IOC's templates in db/, in load order. */
export function readPvTemplates(dbDir: string = DB_DIR): PvTemplate[] {
  const files = fs.readdirSync(dbDir).filter((f) => f.endsWith('.db') && !NOT_SERVICE_TEMPLATES.has(f));
  const rank = (f: string): number => (LOAD_ORDER.includes(f) ? LOAD_ORDER.indexOf(f) : LOAD_ORDER.length);
  files.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return files.map((f) => readPvTemplate(f, dbDir));
}

/** A table cell: pipes escaped, and <pv> shown as text, not taken for HTML. */
const cell = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
/** Inside backticks nothing is HTML. */
const code = (s: string): string => `\`${s.replace(/`/g, '')}\``;

/** The Markdown that goes between the markers (without them). */
export function renderPvTable(templates: readonly PvTemplate[]): string {
  const out = [
    '<!-- Generated by `service-ioc pv-table` from db/*.db: edit the templates, not this table. -->',
    '',
    'Every PV name starts with the `prefix` of `[ioc]`; `<pv>` is the `pv` key of the',
    '`[[unit]]` or `[[queueserver]]` table. A control PV acts when the value in the',
    'Control column is written to it (caput with a put callback waits for the result).',
  ];
  for (const t of templates) {
    const title = t.title === '' || t.title.endsWith('.') ? t.title : `${t.title}.`;
    out.push('', `#### \`${t.file}\`, loaded ${t.loaded}`, '', ...(title ? [title, ''] : []), '| PV | Type | Description | Control |', '| --- | --- | --- | --- |');
    for (const r of t.rows) out.push(`| ${code(r.name)} | ${r.type} | ${cell(r.description)} | ${cell(r.control ?? '')} |`);
  }
  return out.join('\n');
}

/**
 * README text with the table put between the markers; without markers, a
 * "PV reference" section goes before the Roadmap (or at the end).
 */
export function withPvTable(readme: string, table: string): string {
  const block = `${PV_TABLE_START}\n${table}\n${PV_TABLE_END}`;
  const start = readme.indexOf(PV_TABLE_START);
  const end = readme.indexOf(PV_TABLE_END);
  if (start >= 0 && end > start) return readme.slice(0, start) + block + readme.slice(end + PV_TABLE_END.length);
  if (start >= 0 || end >= 0) throw new Error(`README: found only one of ${PV_TABLE_START} and ${PV_TABLE_END}`);
  const section = `## PV reference\n\n${block}\n`;
  const roadmap = readme.search(/^## Roadmap\s*$/m);
  if (roadmap >= 0) return `${readme.slice(0, roadmap)}${section}\n${readme.slice(roadmap)}`;
  return `${readme.replace(/\n*$/, '\n\n')}${section}`;
}

/** The block between the markers, or undefined when there is none. */
export function pvTableOf(readme: string): string | undefined {
  const start = readme.indexOf(PV_TABLE_START);
  const end = readme.indexOf(PV_TABLE_END);
  if (start < 0 || end < start) return undefined;
  return readme.slice(start + PV_TABLE_START.length, end).replace(/^\n/, '').replace(/\n$/, '');
}

/** `service-ioc pv-table [--readme README.md]` */
export function pvTableCommand(args: readonly string[], usage: UsageErrorFactory): number {
  const options = parseOptions(args, { '--readme': false }, usage);
  const table = renderPvTable(readPvTemplates());
  const readme = options.get('--readme');
  if (readme === undefined) {
    process.stdout.write(`${table}\n`);
  } else {
    const before = fs.readFileSync(readme, 'utf8');
    const after = withPvTable(before, table);
    if (after === before) {
      process.stdout.write(`${readme}: PV reference already up to date\n`);
    } else {
      fs.writeFileSync(readme, after);
      process.stdout.write(`${readme}: PV reference updated\n`);
    }
  }
  return 0;
}
