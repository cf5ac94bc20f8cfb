import { useCallback, useEffect, useRef } from "react";
import { notifyError } from "../../lib/notify";

/**
 * Writes the server cannot take back (delete, "keep as it is") wait out their Undo toast
 * before they are sent. Leaving the page sends whatever is still waiting.
 */
export function useDeferred(ms: number) {
  const pending = useRef(new Map<string, { timer: ReturnType<typeof setTimeout>; commit: () => Promise<unknown> }>());

  const run = useCallback((key: string) => {
    const entry = pending.current.get(key);
    if (!entry) return;
    pending.current.delete(key);
    clearTimeout(entry.timer);
    entry.commit().catch((error) => notifyError(error));
  }, []);

  const schedule = useCallback(
    (key: string, commit: () => Promise<unknown>) => {
      run(key);
      const timer = setTimeout(() => run(key), ms);
      pending.current.set(key, { timer, commit });
      return () => {
        const entry = pending.current.get(key);
        if (!entry) return false;
        clearTimeout(entry.timer);
        pending.current.delete(key);
        return true;
      };
    },
    [ms, run],
  );

  useEffect(() => {
    const waiting = pending.current;
    return () => {
      for (const key of [...waiting.keys()]) run(key);
    };
  }, [run]);

  return schedule;
}
