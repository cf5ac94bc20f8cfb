/** One function per API endpoint the app uses. */
import { api, xhrUpload, type UploadProgress } from "./client";
import type {
  AddedToDataset,
  ApiKey,
  AuthConfig,
  DatasetStats,
  Deployment,
  Health,
  ImageFilter,
  ImageItem,
  ImportJob,
  Label,
  LabelHistoryEvent,
  ModelVersion,
  ModelVersionSummary,
  Paginated,
  PredictionLogEntry,
  PredictionResult,
  Project,
  ProjectInput,
  SignupResult,
  TrainingJob,
  TrainingMode,
  UploadReport,
  User,
} from "./types";

/** Some list endpoints paginate and some do not; the app only needs the rows. */
export function rows<T>(data: T[] | Paginated<T> | null | undefined): T[] {
  if (!data) return [];
  return Array.isArray(data) ? data : data.results;
}

type ListAnswer<T> = T[] | Paginated<T>;

// Auth
export const authMe = (signal?: AbortSignal) => api<User>("auth/me/", { signal });
export const authConfig = () => api<AuthConfig>("auth/config/");
export const authLogin = (body: { username: string; password: string }) => api<User>("auth/login/", { json: body });
export const authSignup = (body: { username: string; password: string; email?: string }) =>
  api<SignupResult>("auth/signup/", { json: body });
export const authLogout = () => api<null>("auth/logout/", { method: "POST" });
export const health = () => api<Health>("health/");

// Projects
export const projectList = async () => rows(await api<ListAnswer<Project>>("projects/", { query: { page_size: 200 } }));
export const projectGet = (id: number) => api<Project>(`projects/${id}/`);
export const projectCreate = (body: ProjectInput) => api<Project>("projects/", { json: body });
export const projectUpdate = (id: number, body: Partial<ProjectInput>) =>
  api<Project>(`projects/${id}/`, { method: "PATCH", json: body });
export const projectDelete = (id: number) => api<null>(`projects/${id}/`, { method: "DELETE" });

// Labels
export const labelList = async (projectId: number) =>
  rows(await api<ListAnswer<Label>>(`projects/${projectId}/labels/`, { query: { page_size: 500 } }));
export const labelCreate = (projectId: number, body: { name: string; color?: string }) =>
  api<Label>(`projects/${projectId}/labels/`, { json: body });
export const labelUpdate = (projectId: number, labelId: number, body: { name?: string; color?: string }) =>
  api<Label>(`projects/${projectId}/labels/${labelId}/`, { method: "PATCH", json: body });
export const labelDelete = (projectId: number, labelId: number) =>
  api<null>(`projects/${projectId}/labels/${labelId}/`, { method: "DELETE" });

// Images
export function imageFilterQuery(filter: ImageFilter): Record<string, string | undefined> {
  return {
    label: filter.unlabeled ? undefined : filter.label || undefined,
    unlabeled: filter.unlabeled ? "true" : undefined,
    split: filter.split || undefined, // "none" = not assigned to a split yet
  };
}

export const imageList = (
  projectId: number,
  filter: ImageFilter,
  page: number,
  pageSize: number,
  signal?: AbortSignal,
) =>
  api<Paginated<ImageItem>>(`projects/${projectId}/images/`, {
    query: { ...imageFilterQuery(filter), page, page_size: pageSize },
    signal,
  });
export const imageGet = (projectId: number, imageId: number) => api<ImageItem>(`projects/${projectId}/images/${imageId}/`);
export const imageUpdate = (projectId: number, imageId: number, body: { label?: string | null; split?: string }) =>
  api<ImageItem>(`projects/${projectId}/images/${imageId}/`, { method: "PATCH", json: body });
export const imageDelete = (projectId: number, imageId: number) =>
  api<null>(`projects/${projectId}/images/${imageId}/`, { method: "DELETE" });
export const imageHistory = async (projectId: number, imageId: number) =>
  rows(await api<ListAnswer<LabelHistoryEvent>>(`projects/${projectId}/images/${imageId}/history/`));

/** Either explicit ids or "everything matching this filter". */
export type ImageTarget = { image_ids: number[] } | { filter: Record<string, string | boolean> };

export function imageTarget(ids: number[] | "filter", filter: ImageFilter): ImageTarget {
  if (ids !== "filter") return { image_ids: ids };
  const out: Record<string, string | boolean> = {};
  if (filter.unlabeled) out.unlabeled = true;
  else if (filter.label) out.label = filter.label;
  if (filter.split) out.split = filter.split;
  return { filter: out };
}

export const imageBulkLabel = (projectId: number, target: ImageTarget, label: string | null) =>
  api<{ updated?: number; count?: number }>(`projects/${projectId}/images/bulk-label/`, { json: { ...target, label } });
export const imageBulkDelete = (projectId: number, target: ImageTarget) =>
  api<{ deleted?: number; count?: number }>(`projects/${projectId}/images/bulk-delete/`, { json: target });

export function imageUpload(
  projectId: number,
  files: File[],
  { label, split, onProgress, signal }: { label?: string; split?: string; onProgress?: (p: UploadProgress) => void; signal?: AbortSignal },
) {
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  if (label) form.append("label", label);
  if (split) form.append("split", split);
  return xhrUpload<UploadReport>(`projects/${projectId}/images/`, form, { onProgress, signal });
}

// Imports (zip / csv / url list)
export function importUpload(
  projectId: number,
  file: File,
  { label, onProgress, signal }: { label?: string; onProgress?: (p: UploadProgress) => void; signal?: AbortSignal } = {},
) {
  const form = new FormData();
  form.append("file", file, file.name);
  if (label) form.append("label", label);
  return xhrUpload<{ id: number; status: string }>(`projects/${projectId}/imports/`, form, { onProgress, signal });
}
export const importUrls = (projectId: number, urls: string[], label?: string) =>
  api<{ id: number; status: string }>(`projects/${projectId}/imports/`, { json: { urls, label: label || undefined } });
export const importGet = (id: number) => api<ImportJob>(`imports/${id}/`);
export const importList = async (projectId: number) =>
  rows(await api<ListAnswer<ImportJob>>(`projects/${projectId}/imports/`, { query: { page_size: 10 } }));
export const importRetry = (id: number) => api<ImportJob>(`imports/${id}/retry/`, { method: "POST" });

// Stats
type RawStats = Record<string, unknown>;

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

/** Accepts the stats as apps/datasets answers them ({labels:[{name,count,splits}], splits})
 * and as the contract words them ({per_label:[{label,count}], per_split}). */
export function normalizeStats(raw: RawStats): DatasetStats {
  const rawLabels = (Array.isArray(raw.labels) ? raw.labels : Array.isArray(raw.per_label) ? raw.per_label : []) as Array<
    Record<string, unknown>
  >;
  const perLabel = rawLabels.map((row) => ({
    id: typeof row.id === "number" ? row.id : undefined,
    label: String(row.name ?? row.label ?? ""),
    count: num(row.count),
    splits: (typeof row.splits === "object" && row.splits !== null ? row.splits : {}) as Record<string, number>,
  }));
  const splits = (raw.splits ?? raw.per_split ?? {}) as Record<string, number>;
  const total = num(raw.total);
  const unlabeled = num(raw.unlabeled);
  return {
    total,
    unlabeled,
    labeled: typeof raw.labeled === "number" ? raw.labeled : total - unlabeled,
    per_label: perLabel,
    per_split: splits,
    duplicates_rejected: num(raw.duplicates_rejected),
    rejected: num(raw.rejected),
    warnings: Array.isArray(raw.warnings) ? (raw.warnings as DatasetStats["warnings"]) : [],
  };
}

export const datasetStats = async (projectId: number) =>
  normalizeStats(await api<RawStats>(`projects/${projectId}/stats/`));

// Training
function normalizeJob(raw: TrainingJob): TrainingJob {
  return {
    ...raw,
    progress: typeof raw.progress === "number" ? raw.progress : 0,
    metrics: raw.metrics ?? {},
    model_version: versionId(raw.model_version as VersionRef).id,
  };
}

export const trainingStart = async (projectId: number, mode: TrainingMode) =>
  normalizeJob(await api<TrainingJob>(`projects/${projectId}/training-jobs/`, { json: { mode } }));
export const trainingList = async (projectId: number) =>
  rows(await api<ListAnswer<TrainingJob>>(`projects/${projectId}/training-jobs/`)).map(normalizeJob);
export const trainingGet = async (id: number) => normalizeJob(await api<TrainingJob>(`training-jobs/${id}/`));
export const trainingCancel = (id: number) => api<TrainingJob>(`training-jobs/${id}/cancel/`, { method: "POST" });

// Models
export const modelList = async (projectId: number) =>
  rows(await api<ListAnswer<ModelVersion>>(`projects/${projectId}/models/`));
export const modelGet = (id: number) => api<ModelVersion>(`models/${id}/`);

// Deployments
type VersionRef = number | { id: number; number?: number } | null;

/** A model version may come as an id or as a nested {id, number}; the app keeps the id. */
export function versionId(ref: VersionRef | undefined): { id: number | null; number?: number } {
  if (ref && typeof ref === "object") return { id: ref.id, number: ref.number };
  return { id: typeof ref === "number" ? ref : null };
}

function normalizeDeployment(raw: Deployment): Deployment {
  const nested = raw.model_version as unknown as VersionRef | ModelVersionSummary;
  const { id, number } = versionId(nested as VersionRef);
  return {
    ...raw,
    model_version: id ?? 0,
    model_version_number: raw.model_version_number ?? number,
    model_version_summary: nested && typeof nested === "object" ? (nested as ModelVersionSummary) : undefined,
  };
}

export const deploymentList = async (projectId: number) =>
  rows(await api<ListAnswer<Deployment>>(`projects/${projectId}/deployments/`)).map(normalizeDeployment);
export const deploymentCreate = async (projectId: number, body: { model_version: number; name?: string }) =>
  normalizeDeployment(await api<Deployment>(`projects/${projectId}/deployments/`, { json: body }));
export const deploymentGet = async (slug: string) => normalizeDeployment(await api<Deployment>(`deployments/${slug}/`));
export const deploymentUpdate = async (
  slug: string,
  body: Partial<Pick<Deployment, "model_version" | "threshold" | "store_images" | "name">>,
) => normalizeDeployment(await api<Deployment>(`deployments/${slug}/`, { method: "PATCH", json: body }));
export const deploymentDelete = (slug: string) => api<null>(`deployments/${slug}/`, { method: "DELETE" });
export const apiKeyList = async (slug: string) => rows(await api<ListAnswer<ApiKey>>(`deployments/${slug}/keys/`));
export const apiKeyCreate = (slug: string, name: string) => api<ApiKey>(`deployments/${slug}/keys/`, { json: { name } });
export const apiKeyRevoke = (slug: string, id: ApiKey["id"]) =>
  api<null>(`deployments/${slug}/keys/${id}/`, { method: "DELETE" });
export const predictionLog = (slug: string, { uncertain, page }: { uncertain?: boolean; page?: number }) =>
  api<ListAnswer<PredictionLogEntry>>(`deployments/${slug}/predictions/`, {
    query: { uncertain: uncertain ? "true" : undefined, page, page_size: 50 },
  });
export const predictionAddToDataset = (slug: string, predictionId: string, label: string) =>
  api<AddedToDataset>(`deployments/${slug}/predictions/${predictionId}/add-to-dataset/`, {
    json: { label },
  });
export function deploymentTry(slug: string, image: File) {
  const form = new FormData();
  form.append("image", image, image.name);
  return api<PredictionResult>(`deployments/${slug}/try/`, { form });
}
