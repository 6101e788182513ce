/**
 * The backstop behind demand control: however an operation was priced, the bytes its answer
 * is made of are bounded (MAX_RESPONSE_BYTES). Each client operation — each subscription event —
 * has a budget; every subgraph response read for it is counted against it as it arrives, and
 * the read that would go past it is cut off with RESPONSE_TOO_LARGE rather than buffered to
 * the end. The transports check the final serialised response against the same limit.
 */
export interface ResponseBudget {
  readonly limit: number;
  /** Bytes of subgraph responses read so far. */
  used: number;
}

export const newBudget = (limit: number): ResponseBudget => ({ limit, used: 0 });
