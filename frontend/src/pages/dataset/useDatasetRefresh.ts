import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useRef } from "react";
import { keys } from "../../api/hooks";

/** Refetches what changes when images are added, labeled or deleted. */
export function useDatasetRefresh(projectId: number) {
  const queryClient = useQueryClient();
  return useCallback(
    ({ images = true }: { images?: boolean } = {}) => {
      if (images) queryClient.invalidateQueries({ queryKey: keys.images(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.stats(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.labels(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.project(projectId), exact: true });
      queryClient.invalidateQueries({ queryKey: keys.projects, exact: true });
    },
    [projectId, queryClient],
  );
}

/** The same, at most once per `ms` while a long upload runs (and always for the last call). */
export function useThrottledRefresh(projectId: number, ms = 3000, { images = true }: { images?: boolean } = {}) {
  const refreshNow = useDatasetRefresh(projectId);
  const refresh = useCallback(() => refreshNow({ images }), [images, refreshNow]);
  const last = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  return useCallback(
    (final = false) => {
      const now = Date.now();
      if (timer.current) clearTimeout(timer.current);
      if (final || now - last.current >= ms) {
        last.current = now;
        refresh();
        return;
      }
      timer.current = setTimeout(() => {
        last.current = Date.now();
        refresh();
      }, ms - (now - last.current));
    },
    [ms, refresh],
  );
}
