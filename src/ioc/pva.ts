/**
 * The pvAccess side of an IOC: the record database served by a PvaServer
 * beside the CA server, through the same PV interface (so a PVA put takes
 * the record's put path, access security and the put log exactly as a CA
 * put does). As QSRV does, display.description is the record's DESC and the
 * built-in `server` channel lists the record names (pvxlist).
 */
import type { ProcessVariable, WriteAudit } from '../ca/pv';
import type { Database } from '../database/database';
import { FieldPv } from '../database/field-pv';
import { waveformElementDbf } from '../database/recordtypes';
import type { Logger } from '../log';
import { pvaConfigFromEnv } from '../pva/server/config';
import type { MetadataParts } from '../pva/server/normative';
import type { DescriptorPool } from '../ca/server/admission';
import { PvaServer } from '../pva/server/server';

export interface PvaServingOptions {
  database: Database;
  log: Logger;
  audit?: WriteAudit;
  env?: NodeJS.ProcessEnv;
  /** Shared with the CA server: out of descriptors, each closes its silent connections. */
  descriptors?: DescriptorPool;
}

/** The DESC of the record a PV belongs to ('' when it has none). */
export function recordDescription(database: Database, pv: ProcessVariable): string {
  const dot = pv.name.indexOf('.');
  const record = database.record(dot < 0 ? pv.name : pv.name.slice(0, dot));
  const desc = record?.f.DESC;
  return typeof desc === 'string' ? desc : '';
}

/** A field's DBF type (a waveform's VAL: its FTVL; an mbbo's VAL: as its record support serves it), for the PVA value type QSRV would give it. */
export function fieldDbfType(pv: ProcessVariable): string | undefined {
  if (!(pv instanceof FieldPv) || pv.longString) return undefined;
  if (pv.def.name === 'VAL' && pv.record.type.name === 'waveform') return waveformElementDbf(pv.record);
  if (pv.def.name === 'VAL' && pv.record.type.valueDbf) return pv.record.type.valueDbf(pv.record);
  return pv.def.type;
}

/** For a field other than VAL: which metadata its record support gives, for QSRV's marks. */
export function fieldMetadataParts(pv: ProcessVariable): MetadataParts | undefined {
  if (!(pv instanceof FieldPv)) return undefined;
  const meta = pv.fieldMeta();
  if (!meta) return undefined;
  return {
    units: meta.units !== undefined, precision: meta.precision !== undefined,
    display: meta.display !== undefined, control: meta.control !== undefined, valueAlarm: meta.alarm !== undefined,
  };
}

/** The PVA server for `database`, not yet listening (tests attach streams to it directly). */
export function pvaServerFor(opts: PvaServingOptions): PvaServer {
  return new PvaServer({
    directory: opts.database,
    config: pvaConfigFromEnv(opts.env ?? process.env),
    log: opts.log,
    describe: (pv) => recordDescription(opts.database, pv),
    listNames: () => opts.database.recordNames(),
    dbfType: fieldDbfType,
    metadataParts: fieldMetadataParts,
    audit: opts.audit,
    descriptors: opts.descriptors,
  });
}

/** Build and start the PVA server for `database`; throws (ConfigError, EADDRINUSE...) before serving. */
export async function startPvaServing(opts: PvaServingOptions): Promise<PvaServer> {
  const server = pvaServerFor(opts);
  await server.start();
  return server;
}

/** The startup line's words for the PVA ports: "PVA on TCP port 5075 and UDP port 5076". */
export function pvaPortsText(server: PvaServer): string {
  return `PVA on TCP port ${server.tcpPort} and UDP port ${server.udpPort}`;
}
