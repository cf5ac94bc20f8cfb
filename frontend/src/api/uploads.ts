/**
 * Uploads that report their progress: XMLHttpRequest (client.xhrUpload), since fetch and so
 * openapi-fetch cannot. Their paths and answers are still the schema's.
 */
import { xhrUpload, type UploadProgress } from "./client";
import type { ImportJobDetail, UploadReport } from "./types";

interface UploadOptions {
  onProgress?: (p: UploadProgress) => void;
  signal?: AbortSignal;
}

/** POST /api/v1/projects/{project_id}/images/ (multipart ImageUploadRequest). */
export function imageUpload(
  projectId: number,
  files: File[],
  { label, split, onProgress, signal }: UploadOptions & { label?: string; split?: string },
): Promise<UploadReport> {
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  if (label) form.append("label", label);
  if (split) form.append("split", split);
  return xhrUpload<UploadReport>(`projects/${projectId}/images/`, form, { onProgress, signal });
}

/** POST /api/v1/projects/{project_id}/imports/ with a zip or CSV file (multipart ImportCreateRequest). */
export function importUpload(
  projectId: number,
  file: File,
  { label, onProgress, signal }: UploadOptions & { label?: string } = {},
): Promise<ImportJobDetail> {
  const form = new FormData();
  form.append("file", file, file.name);
  if (label) form.append("label", label);
  return xhrUpload<ImportJobDetail>(`projects/${projectId}/imports/`, form, { onProgress, signal });
}
