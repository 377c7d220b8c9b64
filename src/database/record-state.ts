/** The part of a record that record support routines read and write: its field store, and its links. */
import type { FieldValue } from './recordtypes';

export interface RecordState {
  /** Field values by name; a record's own values shadow its type's defaults. */
  readonly f: Record<string, FieldValue>;
}

/** What record support's process steps may do with the record's links (dbGetLink, dbPutLink). */
export interface LinkedRecord extends RecordState {
  readonly name: string;
  /** Device support other than Soft Channel serves the record. */
  readonly hardware: boolean;
  /** An empty or constant link (dbLinkIsConstant). */
  linkIsConstant(link: string): boolean;
  /** Read a link into one of the record's fields; false when the read failed (alarm raised). */
  readLink(link: string, into: string): boolean;
  /** A link's value as a number; undefined for a constant or empty link or a failed read. */
  readLinkNumber(link: string): number | undefined;
  /** Write one of the record's fields through a link. */
  writeLink(link: string, from: string): void;
  /** Process what a forward link names, when it is passive (dbScanFwdLink). */
  processLink(link: string): void;
  /** Post a monitor event for one of the record's fields. */
  post(field: string, mask: number): void;
}
