/**
 * Typed errors raised by the pvAccess codec. Each has a stable string code so
 * the connection, tests and logs can tell them apart without parsing text.
 * A peer's bad bytes become one of these; they close that connection only.
 */
import { ServiceIocError } from '../../errors';
export type PvaProtocolErrorCode =
  | 'PVA_ERR_TRUNCATED'      // input ends inside a value or message
  | 'PVA_ERR_BAD_MAGIC'      // header does not start with 0xCA
  | 'PVA_ERR_TOO_LARGE'      // message (or segmented message) above the configured maximum
  | 'PVA_ERR_BAD_TYPE'       // type descriptor with an unknown or unsupported code
  | 'PVA_ERR_BAD_CACHE'      // 0xFE reference to a type id never defined on this connection
  | 'PVA_ERR_TOO_DEEP'       // type nesting deeper than allowed
  | 'PVA_ERR_BAD_SIZE'       // size encoding that cannot be valid here
  | 'PVA_ERR_BAD_SELECTOR'   // union selector outside the union's members
  | 'PVA_ERR_BAD_SEGMENT'    // segmentation flags out of order
  | 'PVA_ERR_BAD_VALUE'      // a value that does not fit its field
  | 'PVA_ERR_BAD_REQUEST';   // a pvRequest the server cannot honour

export class PvaProtocolError extends ServiceIocError {
  declare readonly code: PvaProtocolErrorCode;
  constructor(code: PvaProtocolErrorCode, message: string) {
    super(code, message);
  }
}
