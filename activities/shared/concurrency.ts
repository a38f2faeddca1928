// Bounded concurrency for activities that act on many objects at once (probe pods, namespaces):
// enough in flight to be quick, few enough not to flood the API server.

/** Runs `fn` on items with at most `limit` at once, keeping input order in the result. */
export async function mapLimit<I, O>(items: readonly I[], limit: number, fn: (item: I, index: number) => Promise<O>): Promise<O[]> {
  const out = new Array<O>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return out;
}
