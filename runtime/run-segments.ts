/**
 * The one segment driver: a body with client steps runs segment 0, then per client step the
 * step and the segment after it, until the last segment's result. Whatever carries the values —
 * float64 rows in simulation, ciphertext envelopes between an FHE client and server in one
 * process (predict --mode fhe), a remote server's answers over MCP (the private client; the
 * server answers one segment per call, see mcp/predict-tool.ts, and each may run on the
 * network) — is a `SegmentRun`. A body of one circuit is one segment and no step.
 */
export interface SegmentRun<T> {
  /** Runs segment `segment` on `inputs` (the body's inputs for 0, what the step before handed over after). */
  evaluate(segment: number, inputs: T): T | Promise<T>;
  /** The client step after segment `segment`: its result in, the next segment's inputs out. */
  clientStep(segment: number, result: T): T | Promise<T>;
}

export async function runSegments<T>(segments: number, inputs: T, run: SegmentRun<T>): Promise<T> {
  let value = await run.evaluate(0, inputs);
  for (let k = 1; k < segments; k++) value = await run.evaluate(k, await run.clientStep(k - 1, value));
  return value;
}
