/** One query key per resource; invalidating a prefix refreshes everything below it. */
import type { ImageFilter } from "../types";

export const keys = {
  me: ["me"] as const,
  authConfig: ["auth-config"] as const,
  health: ["health"] as const,
  projects: ["projects"] as const,
  project: (id: number) => ["projects", id] as const,
  labels: (projectId: number) => ["projects", projectId, "labels"] as const,
  images: (projectId: number) => ["projects", projectId, "images"] as const,
  imageList: (projectId: number, filter: ImageFilter) => ["projects", projectId, "images", "list", filter] as const,
  image: (projectId: number, imageId: number) => ["projects", projectId, "images", "one", imageId] as const,
  imageHistory: (projectId: number, imageId: number) => ["projects", projectId, "images", "history", imageId] as const,
  stats: (projectId: number) => ["projects", projectId, "stats"] as const,
  importJob: (id: number) => ["imports", id] as const,
  imports: (projectId: number) => ["projects", projectId, "imports"] as const,
  trainingJobs: (projectId: number) => ["projects", projectId, "training-jobs"] as const,
  trainingJob: (id: number) => ["training-jobs", id] as const,
  models: (projectId: number) => ["projects", projectId, "models"] as const,
  model: (id: number) => ["models", id] as const,
  compare: (a: number, b: number) => ["models", a, "compare", b] as const,
  dataDiff: (a: number, b: number) => ["models", a, "data-diff", b] as const,
  deployments: (projectId: number) => ["projects", projectId, "deployments"] as const,
  apiKeys: (slug: string) => ["deployments", slug, "keys"] as const,
  deploymentHistory: (slug: string) => ["deployments", slug, "history"] as const,
  predictionLog: (slug: string) => ["deployments", slug, "predictions"] as const,
  predictions: (slug: string, uncertain: boolean) => ["deployments", slug, "predictions", uncertain] as const,
};

export const POLL_MS = 1000;

/** Options a page adds to a mutation hook: its own follow-up, and where errors show. */
export interface MutationOptions<T> {
  onSuccess?: (data: T) => void;
  /** The page shows the error next to the form instead of a toast. */
  inlineError?: boolean;
}

export function mutationMeta(options: { inlineError?: boolean }) {
  return options.inlineError ? { inlineError: true } : undefined;
}
