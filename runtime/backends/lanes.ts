/**
 * Runs `task(0) … task(total − 1)` with at most `width` in flight, each lane taking the next
 * index when its task ends; resolves to the results in index order. Width 1 is a plain loop.
 * The first failure rejects the whole run, and no lane starts a new task after it.
 */
export async function inLanes<T>(total: number, width: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(total);
  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (!failed && next < total) {
      const index = next++;
      try {
        results[index] = await task(index);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, total)) }, lane));
  return results;
}
