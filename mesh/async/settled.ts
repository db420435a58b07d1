/**
 * The outcome of `run` (a throw becomes a rejection), after `onOk` or
 * `onError` has seen it. One `then` per call, not an async frame and its
 * await, which cost every call again once AsyncLocalStorage has turned on
 * async hooks: for interceptors on the hot path (metrics, tracing).
 */
export function settled<T>(run: () => Promise<T>, onOk: () => void, onError: (err: unknown) => void): Promise<T> {
  let result: Promise<T>;
  try {
    result = run();
  } catch (err) {
    onError(err);
    return Promise.reject(err);
  }
  return Promise.resolve(result).then(
    (value) => {
      onOk();
      return value;
    },
    (err: unknown) => {
      onError(err);
      throw err;
    },
  );
}
