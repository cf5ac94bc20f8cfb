/** Comparing two model versions: the data diff and the model diff. */
import { useQuery } from "@tanstack/react-query";
import { apiClient, call } from "../client";
import { keys } from "./keys";

function pairPath(a: number, b: number) {
  return { params: { path: { version_id: a, other_id: b } } };
}

/** Version a against version b on the test images both share (400: nothing to compare). */
export function useModelCompare(a: number | null, b: number | null) {
  return useQuery({
    queryKey: keys.compare(a ?? -1, b ?? -1),
    queryFn: () => call(apiClient.GET("/api/v1/models/{version_id}/compare/{other_id}/", pairPath(a as number, b as number))),
    enabled: a !== null && b !== null && a !== b,
    retry: false,
  });
}

/** What changed in the data and the training parameters from version a to version b. */
export function useModelDataDiff(a: number | null, b: number | null) {
  return useQuery({
    queryKey: keys.dataDiff(a ?? -1, b ?? -1),
    queryFn: () => call(apiClient.GET("/api/v1/models/{version_id}/data-diff/{other_id}/", pairPath(a as number, b as number))),
    enabled: a !== null && b !== null && a !== b,
    retry: false,
  });
}
