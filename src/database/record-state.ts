/** The part of a record that record support routines read and write: its field store. */
import type { FieldValue } from './recordtypes';

export interface RecordState {
  /** Field values by name; a record's own values shadow its type's defaults. */
  readonly f: Record<string, FieldValue>;
}
