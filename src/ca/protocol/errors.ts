/**
 * Typed errors raised by the codec. Each carries a stable string code so that
 * callers (the circuit, tests, logs) can tell them apart without parsing text.
 */
import { ServiceIocError } from '../../errors';
import { Eca } from './constants';

export type CaProtocolErrorCode =
  | 'CA_ERR_BAD_TYPE'        // DBR type outside 0..38, or not allowed here
  | 'CA_ERR_BAD_COUNT'       // element count out of range for the type or PV
  | 'CA_ERR_BAD_SIZE'        // payload size disagrees with type and count
  | 'CA_ERR_MISALIGNED'      // TCP payload not a multiple of 8 bytes
  | 'CA_ERR_TOO_LARGE'       // payload exceeds the configured maximum
  | 'CA_ERR_TRUNCATED'       // input ends inside a message
  | 'CA_ERR_NO_CONVERT'      // value cannot be converted to the target type
  | 'CA_ERR_BAD_STRING'      // string payload missing its terminator or not decodable
  | 'CA_ERR_BAD_COMMAND';    // a command code that is no request a client sends a server

/** Error in bytes received from (or about to be sent to) a peer. */
export class CaProtocolError extends ServiceIocError {
  declare readonly code: CaProtocolErrorCode;
  /** The ECA status a server would report for this error. */
  readonly eca: Eca;

  constructor(code: CaProtocolErrorCode, message: string, eca: Eca = Eca.INTERNAL) {
    super(code, message);
    this.eca = eca;
  }
}
