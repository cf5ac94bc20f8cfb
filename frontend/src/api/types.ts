/**
 * The shapes the Bakehouse API answers with, named for the app. Every one comes from the
 * generated schema (schema.d.ts, `make api-types`): when the API changes, these change.
 */
import type { components } from "./schema";

type Schemas = components["schemas"];

export type User = Schemas["User"];
export type Me = Schemas["Me"];
export type SignupResult = Schemas["SignupOutput"];
export type AuthConfig = Schemas["AuthConfig"];
export type Health = Schemas["Health"];

/** A page of a paginated list (the same for every list the API paginates). */
export type Paginated<T> = Omit<Schemas["PaginatedProjectOutputList"], "results"> & { results: T[] };

export type TaskType = Schemas["TaskTypeEnum"];
export type TargetMetric = Schemas["TargetMetricEnum"];
export type Project = Schemas["ProjectOutput"];
export type ProjectInput = Schemas["ProjectInputRequest"];
export type ProjectUpdate = Schemas["PatchedProjectUpdateRequest"];
export type Label = Schemas["LabelOutput"];

export type Split = Schemas["SplitEnum"] | "";
export type ImageItem = Schemas["ImageOutput"];
export type ImageUpdate = Schemas["PatchedImageUpdateRequest"];
export type UploadReport = Schemas["IngestReport"];
export type LabelHistoryEvent = Schemas["LabelEventOutput"];
export type BulkSelection = Schemas["BulkSelectionRequest"];

/** The image list's filter as the dataset page holds it (the query string's fields). */
export interface ImageFilter {
  label?: string;
  unlabeled?: boolean;
  split?: string;
  /** Part of the file name, any case. */
  filename?: string;
  /** Metadata columns (attached from a CSV) and the value each must have, exactly. */
  meta?: Record<string, string>;
}

export type JobStatus = Schemas["JobStatusEnum"];
/** An import as the list answers it; the detail adds its full `report`. */
export type ImportJob = Schemas["ImportJobOutput"] & Partial<Pick<Schemas["ImportJobDetail"], "report">>;
export type ImportJobDetail = Schemas["ImportJobDetail"];

export type DatasetStatsAnswer = Schemas["DatasetStats"];
export type DatasetWarning = Schemas["DatasetWarning"];

export interface LabelCount {
  id?: number;
  label: string;
  count: number;
  /** Images of this label per split: train, val, test, unassigned. */
  splits: Record<string, number>;
}

/** The dataset statistics as the pages read them (adapters.normalizeStats). */
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

export type HistoryPoint = Schemas["HistoryPoint"];
export type TrainingMode = Schemas["TrainingModeEnum"];
/** A training job as the list answers it; the detail adds `log` and `image_count`. */
export type TrainingJob = Schemas["TrainingJobOutput"] & Partial<Pick<Schemas["TrainingJobDetail"], "log" | "image_count">>;
export type TrainingMetrics = Schemas["TrainingMetrics"];

export type ClassMetrics = Schemas["ClassMetrics"];
export type Misclassified = Schemas["Misclassified"];
export type ModelMetrics = Schemas["TrainingMetrics"];
/** A model version as the list answers it; the detail adds its `snapshot`. */
export type ModelVersion = Schemas["ModelVersionOutput"] & Partial<Pick<Schemas["ModelVersionDetail"], "snapshot">>;
export type ModelVersionSummary = Schemas["ModelVersionSummary"];
export type ModelCompare = Schemas["ModelCompare"];
export type LabelRecall = Schemas["LabelRecall"];
export type DataDiff = Schemas["DataDiff"];

export type Deployment = Schemas["DeploymentOutput"];
export type DeploymentUpdate = Schemas["PatchedDeploymentUpdateRequest"];
export type DeploymentCreate = Schemas["DeploymentCreateRequest"];
export type Precision = Schemas["DeploymentPrecisionEnum"];
export type Int8Metrics = Schemas["Int8Metrics"];
export type DeploymentChange = Schemas["DeploymentChange"];
export type Candidate = Schemas["Candidate"];
export type ApiKey = Schemas["ApiKeyOutput"];
export type NewApiKey = Schemas["NewApiKey"];

export type LabelScore = Schemas["LabelScore"];
export type PredictionResult = Schemas["PredictionAnswer"];
export type PredictionSource = Schemas["PredictionOutputSourceEnum"];
export type PredictionLogEntry = Schemas["PredictionOutput"];
export type AddedToDataset = Schemas["AddedToDataset"];
