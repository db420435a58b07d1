/** A replayed dead letter's handler failed: its work is rolled back, the dead letter stays. */
export class ReplayFailure extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}
