/** Shapes the Bakehouse API answers with (see the API contract). */

export interface User {
  id: number;
  username: string;
  email: string;
  signup_enabled?: boolean;
}

export interface SignupResult extends User {
  token: string;
}

export interface AuthConfig {
  signup_enabled: boolean;
}

export interface Health {
  status: string;
  database: string;
  broker: string;
  workers: number;
  message?: string;
}

export interface Paginated<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export type TaskType = "single_label" | "multi_label";
export type TargetMetric = "accuracy" | "macro_f1";

export interface LatestModel {
  id: number;
  number: number;
  accuracy?: number | null;
  macro_f1?: number | null;
}

export interface Project {
  id: number;
  name: string;
  description: string;
  predicts: string;
  task_type: TaskType;
  target_metric: TargetMetric;
  target_value: number;
  backbone?: string;
  created_at?: string;
  updated_at?: string;
  image_count?: number;
  labeled_count?: number;
  label_count?: number;
  labels?: Array<Label | string>;
  // The backend names this one of a few ways; lib/format.projectAccuracy reads any of them.
  latest_model?: LatestModel | null;
  latest_accuracy?: number | null;
  latest_model_accuracy?: number | null;
}

export interface ProjectInput {
  name: string;
  description?: string;
  predicts?: string;
  task_type?: TaskType;
  target_metric?: TargetMetric;
  target_value?: number;
  labels?: string[];
}

export interface Label {
  id: number;
  name: string;
  color?: string;
  image_count?: number;
}

export type Split = "train" | "val" | "test" | "";

export interface ImageItem {
  id: number;
  filename: string;
  label: string | null;
  label_id?: number | null;
  split: Split;
  split_locked?: boolean;
  width: number;
  height: number;
  format: string;
  size_bytes: number;
  sha256: string;
  source: string;
  source_url?: string;
  created_at: string;
  thumbnail_url: string;
  file_url: string;
  original_url?: string;
}

export interface UploadReport {
  created: Array<{ id: number; filename: string; sha256?: string }>;
  duplicates: Array<{ filename: string; existing_id?: number; error?: string }>;
  rejected: Array<{ filename: string; error: string; code?: string }>;
  skipped?: Array<{ filename: string; reason?: string; error?: string }>;
}

export interface ImageFilter {
  label?: string;
  unlabeled?: boolean;
  split?: string;
}

export interface LabelHistoryEvent {
  id?: number;
  old_label?: string | null;
  new_label?: string | null;
  old_label_name?: string;
  new_label_name?: string;
  actor?: string | null;
  source?: string;
  created_at: string;
}

export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface ImportJob {
  id: number;
  kind?: string;
  status: JobStatus;
  progress: number;
  processed: number;
  total: number;
  report: Partial<UploadReport> & Record<string, unknown>;
  error: string;
  upload_filename?: string;
  counts?: { created?: number; duplicates?: number; rejected?: number; skipped?: number };
  created_at?: string;
}

export interface DatasetWarning {
  code: string;
  message: string;
}

export interface LabelCount {
  id?: number;
  label: string;
  count: number;
  /** Images of this label per split: train, val, test, unassigned. */
  splits: Record<string, number>;
}

/** The dataset statistics, normalised by endpoints.datasetStats (the API's names vary). */
export interface DatasetStats {
  total: number;
  labeled: number;
  unlabeled: number;
  per_label: LabelCount[];
  per_split: Record<string, number>;
  duplicates_rejected: number;
  rejected: number;
  warnings: DatasetWarning[];
}

export interface HistoryPoint {
  epoch?: number;
  step?: number;
  loss?: number | null;
  val_loss?: number | null;
  train_accuracy?: number | null;
  accuracy?: number | null;
  val_accuracy?: number | null;
}

export type TrainingMode = "quick" | "finetune";

export interface TrainingJob {
  id: number;
  project?: number;
  mode: TrainingMode;
  status: JobStatus;
  progress: number;
  stage: string;
  metrics: { history?: HistoryPoint[]; [key: string]: unknown };
  model_version: number | null;
  error: string;
  /** Detail only: the technical record of a failure (a traceback), and the images it used. */
  log?: string;
  image_count?: number;
  attempts?: number;
  cancel_requested?: boolean;
  created_at?: string;
  started_at?: string | null;
  finished_at?: string | null;
}

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface Misclassified {
  id: number;
  true: string;
  predicted: string;
  confidence: number;
}

export interface ModelMetrics {
  /** How many held-out images the figures were measured on. */
  count?: number;
  /** "test", "val", or "val (held out from train)": which images those were. */
  evaluated_on?: string;
  /** Images per role in the run: train, val, held_out, unreadable… */
  counts?: Record<string, number>;
  target?: { metric: string; value: number; achieved: number | null; reached: boolean };
  /** Fine-tuned models: the quick (linear probe) score on the same images, for comparison. */
  linear_probe?: { accuracy?: number | null; macro_f1?: number | null };
  best_epoch?: number | null;
  accuracy?: number;
  macro_f1?: number;
  ece?: number;
  per_class?: Record<string, ClassMetrics>;
  confusion_matrix?: number[][];
  misclassified?: Misclassified[];
  history?: HistoryPoint[];
  [key: string]: unknown;
}

export interface ModelVersion {
  id: number;
  number: number;
  backbone: string;
  mode: TrainingMode;
  labels: string[];
  created_at: string;
  metrics: ModelMetrics;
  training_job?: number | null;
  project?: number;
  /** Absolute links to the model's files: onnx, head and (fine-tuned) model. */
  downloads?: Record<string, string>;
}

/** The live model as a deployment answers it (GET deployments/{slug}/ nests it). */
export interface ModelVersionSummary {
  id: number;
  number: number;
  mode?: TrainingMode;
  backbone?: string;
  labels?: string[];
  accuracy?: number | null;
  created_at?: string;
}

export interface Deployment {
  id?: number;
  project?: number;
  slug: string;
  name: string;
  /** Absolute URL of POST /api/v1/predict/{slug}/. */
  predict_url: string;
  try_url?: string;
  /** The live model version's id (endpoints.normalizeDeployment flattens the nested summary). */
  model_version: number;
  model_version_number?: number;
  model_version_summary?: ModelVersionSummary;
  threshold: number;
  store_images: boolean;
  rate_limit?: string;
  created_at?: string;
  updated_at?: string;
}

export interface ApiKey {
  /** The key's prefix: it names the key in URLs (keys/{id}/). */
  id: string;
  name: string;
  prefix: string;
  created?: string;
  created_at?: string;
  revoked?: boolean;
  key?: string;
}

export interface LabelScore {
  label: string;
  confidence: number;
}

export interface PredictionResult {
  /** The prediction's uuid, as the prediction log names it. */
  id?: string;
  deployment?: string;
  /** The answering model version's id, and its number within the project (v1, v2…). */
  model_version?: number;
  model_version_number?: number;
  prediction: LabelScore;
  predictions: LabelScore[];
  uncertain: boolean;
  latency_ms: number;
}

export type PredictionSource = "api" | "try";

export interface PredictionLogEntry {
  /** A uuid: the same id the prediction's answer carried. */
  id: string;
  source?: PredictionSource;
  label: string;
  confidence: number;
  predictions: LabelScore[];
  uncertain: boolean;
  latency_ms: number;
  created_at: string;
  image_url: string | null;
  added_image: number | null;
  model_version?: number;
  model_version_number?: number;
}

export interface AddedToDataset {
  image: number;
  label: string | null;
  /** False when the data set already had the image (nothing was copied twice). */
  created: boolean;
  duplicate: boolean;
  prediction: string;
}
