import {
  Alert,
  Autocomplete,
  Badge,
  Button,
  Group,
  Progress,
  SegmentedControl,
  Select,
  Stack,
  Switch,
  Text,
  ThemeIcon,
  Tooltip,
} from "@mantine/core";
import { Dropzone, type FileWithPath } from "@mantine/dropzone";
import {
  IconAlertTriangle,
  IconCheck,
  IconCopy,
  IconFileZip,
  IconPhotoUp,
  IconUpload,
  IconX,
} from "@tabler/icons-react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useCallback, useMemo, useReducer, useRef, useState } from "react";
import { errorMessage } from "../../api/client";
import { imageUpload, importUpload } from "../../api/uploads";
import { useImportsChanged, useThrottledRefresh } from "../../api/hooks";
import type { Label } from "../../api/types";
import { formatBytes, formatNumber, plural } from "../../lib/format";
import { notifyError } from "../../lib/notify";
import { folderOf, partitionFiles, uploadInBatches, type FileOutcome, type FileStatus } from "../../lib/upload";
import { ImportJobs } from "./ImportJobs";

interface FileEntry {
  name: string;
  size: number;
  status: FileStatus;
  message?: string;
  batchKey: string;
}

interface UploadState {
  files: FileEntry[];
  batchProgress: Record<string, number>;
  archives: Array<{ key: string; name: string; size: number; progress: number; error?: string; jobId?: number }>;
}

type Action =
  | { type: "add"; files: FileEntry[] }
  | { type: "batch-start"; batchKey: string; indexes: number[] }
  | { type: "batch-progress"; batchKey: string; fraction: number }
  | { type: "batch-done"; indexes: number[]; outcomes: FileOutcome[] }
  | { type: "archive-add"; key: string; name: string; size: number }
  | { type: "archive-update"; key: string; progress?: number; error?: string; jobId?: number }
  | { type: "clear" };

function reducer(state: UploadState, action: Action): UploadState {
  switch (action.type) {
    case "add":
      return { ...state, files: [...state.files, ...action.files] };
    case "batch-start": {
      const files = state.files.slice();
      for (const i of action.indexes) files[i] = { ...files[i], status: "uploading", batchKey: action.batchKey };
      return { ...state, files, batchProgress: { ...state.batchProgress, [action.batchKey]: 0 } };
    }
    case "batch-progress":
      return { ...state, batchProgress: { ...state.batchProgress, [action.batchKey]: action.fraction } };
    case "batch-done": {
      const files = state.files.slice();
      action.indexes.forEach((i, k) => {
        files[i] = { ...files[i], status: action.outcomes[k].status, message: action.outcomes[k].message };
      });
      return { ...state, files };
    }
    case "archive-add":
      return { ...state, archives: [...state.archives, { key: action.key, name: action.name, size: action.size, progress: 0 }] };
    case "archive-update":
      return {
        ...state,
        archives: state.archives.map((a) =>
          a.key === action.key
            ? {
                ...a,
                progress: action.progress ?? a.progress,
                error: action.error ?? a.error,
                jobId: action.jobId ?? a.jobId,
              }
            : a,
        ),
      };
    case "clear":
      return {
        files: state.files.filter((f) => f.status === "waiting" || f.status === "uploading"),
        batchProgress: {},
        archives: state.archives.filter((a) => a.jobId === undefined && !a.error),
      };
    default:
      return state;
  }
}

const STATUS_TEXT: Record<FileStatus, string> = {
  waiting: "Waiting",
  uploading: "Uploading",
  created: "Added",
  duplicate: "Already in the project",
  rejected: "Rejected",
  failed: "Failed",
};

const STATUS_COLOR: Record<FileStatus, string> = {
  waiting: "gray",
  uploading: "blue",
  created: "teal",
  duplicate: "yellow",
  rejected: "red",
  failed: "red",
};

function FileRow({ file, progress }: { file: FileEntry; progress: number }) {
  const done = file.status !== "waiting" && file.status !== "uploading";
  const value = done ? 100 : file.status === "uploading" ? progress * 100 : 0;
  return (
    <Group gap="sm" wrap="nowrap" px="xs" h={44} data-testid="upload-file" data-status={file.status}>
      <ThemeIcon size={22} radius="xl" variant="light" color={STATUS_COLOR[file.status]}>
        {file.status === "created" ? (
          <IconCheck size={14} />
        ) : file.status === "duplicate" ? (
          <IconCopy size={14} />
        ) : file.status === "rejected" || file.status === "failed" ? (
          <IconX size={14} />
        ) : (
          <IconUpload size={14} />
        )}
      </ThemeIcon>
      <Stack gap={2} style={{ flex: 1, minWidth: 0 }}>
        <Group justify="space-between" wrap="nowrap" gap="xs">
          <Text size="sm" truncate>
            {file.name}
          </Text>
          <Text size="xs" c={file.message && done && file.status !== "created" ? STATUS_COLOR[file.status] : "dimmed"} truncate maw="55%">
            {file.message && done ? file.message : `${STATUS_TEXT[file.status]} · ${formatBytes(file.size)}`}
          </Text>
        </Group>
        <Progress
          value={value}
          size={4}
          color={STATUS_COLOR[file.status]}
          animated={file.status === "uploading" && progress >= 1}
          aria-label={`${file.name} upload progress`}
        />
      </Stack>
    </Group>
  );
}

function FileList({ files, batchProgress }: { files: FileEntry[]; batchProgress: Record<string, number> }) {
  const parentRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: files.length,
    getScrollElement: () => parentRef.current,
    estimateSize: () => 44,
    overscan: 8,
  });
  return (
    <div ref={parentRef} style={{ maxHeight: 264, overflowY: "auto" }} data-testid="upload-file-list">
      <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
        {virtualizer.getVirtualItems().map((row) => {
          const file = files[row.index];
          return (
            <div key={row.key} style={{ position: "absolute", top: 0, left: 0, right: 0, transform: `translateY(${row.start}px)` }}>
              <FileRow file={file} progress={batchProgress[file.batchKey] ?? 0} />
            </div>
          );
        })}
      </div>
    </div>
  );
}

export function UploadPanel({ projectId, labels }: { projectId: number; labels: Label[] }) {
  const [state, dispatch] = useReducer(reducer, { files: [], batchProgress: {}, archives: [] });
  const [label, setLabel] = useState("");
  const [split, setSplit] = useState<string | null>("");
  const [folderLabels, setFolderLabels] = useState(true);
  const [show, setShow] = useState<"all" | "problems">("all");
  const runCounter = useRef(0);
  // How many entries the list holds, kept in a ref so two quick drops get distinct indexes.
  const fileCount = useRef(0);
  const refresh = useThrottledRefresh(projectId);
  const importsChanged = useImportsChanged(projectId);

  const startImages = useCallback(
    async (files: FileWithPath[]) => {
      const run = (runCounter.current += 1);
      const offset = fileCount.current;
      fileCount.current += files.length;
      // Entries are appended before the batches start, so their indexes are stable.
      dispatch({
        type: "add",
        files: files.map((f) => ({ name: f.name, size: f.size, status: "waiting" as const, batchKey: "" })),
      });
      const chosen = label.trim();
      const useFolders = folderLabels && files.some((f) => folderOf(f));
      const summary = await uploadInBatches(files, {
        groupOf: useFolders ? (f) => folderOf(f) : undefined,
        send: (batch, onProgress) =>
          imageUpload(projectId, batch, {
            label: (useFolders ? folderOf(batch[0]) : "") || chosen || undefined,
            split: split || undefined,
            onProgress,
          }),
        onBatchStart: (b, indexes) =>
          dispatch({ type: "batch-start", batchKey: `${run}:${b}`, indexes: indexes.map((i) => i + offset) }),
        onBatchProgress: (b, fraction) => dispatch({ type: "batch-progress", batchKey: `${run}:${b}`, fraction }),
        onBatchDone: (_b, indexes, outcomes) => {
          dispatch({ type: "batch-done", indexes: indexes.map((i) => i + offset), outcomes });
          refresh();
        },
      });
      refresh(true);
      if (summary.failed > 0) {
        notifyError(
          new Error(`${plural(summary.failed, "file")} could not be uploaded. The list below says why; drop them again to retry.`),
          "Some uploads failed",
        );
      }
    },
    [folderLabels, label, projectId, refresh, split],
  );

  const startArchive = useCallback(
    async (file: File) => {
      const key = `${Date.now()}-${Math.random()}`;
      dispatch({ type: "archive-add", key, name: file.name, size: file.size });
      try {
        const job = await importUpload(projectId, file, {
          label: label.trim() || undefined,
          onProgress: (p) => dispatch({ type: "archive-update", key, progress: p.total ? p.loaded / p.total : 0 }),
        });
        dispatch({ type: "archive-update", key, progress: 1, jobId: job.id });
        importsChanged();
      } catch (error) {
        dispatch({ type: "archive-update", key, error: errorMessage(error) });
      }
    },
    [importsChanged, label, projectId],
  );

  const onDrop = (dropped: FileWithPath[]) => {
    const { images, archives } = partitionFiles(dropped);
    if (images.length) void startImages(images);
    for (const archive of archives) void startArchive(archive);
  };

  const counts = useMemo(() => {
    const c: Record<FileStatus, number> = { waiting: 0, uploading: 0, created: 0, duplicate: 0, rejected: 0, failed: 0 };
    for (const f of state.files) c[f.status] += 1;
    return c;
  }, [state.files]);
  const total = state.files.length;
  const finished = counts.created + counts.duplicate + counts.rejected + counts.failed;
  const busy = counts.waiting + counts.uploading > 0;
  // One count of the files that were not added (duplicates and refused ones), read by the
  // "Not added (n)" switch and the sentence under the progress bar alike.
  const problems = useMemo(
    () => state.files.filter((f) => f.status === "rejected" || f.status === "failed" || f.status === "duplicate"),
    [state.files],
  );
  const refused = counts.rejected + counts.failed;
  const shown = show === "problems" ? problems : state.files;
  const pendingArchives = state.archives.filter((a) => a.jobId === undefined || a.error);

  return (
    <Stack gap="md" data-testid="upload-panel">
      <Text size="sm" c="dimmed">
        Drop photos, whole folders, or a .zip whose folders are the label names (optionally inside train/, val/, test/).
      </Text>
      <Group grow align="flex-start" gap="sm">
        <Autocomplete
          label="Label for these images"
          placeholder="None (label them later)"
          data={labels.map((l) => l.name)}
          value={label}
          onChange={setLabel}
          clearable
          data-testid="upload-label"
        />
        <Select
          label="Split"
          data={[
            { value: "", label: "Automatic" },
            { value: "train", label: "Train" },
            { value: "val", label: "Validation" },
            { value: "test", label: "Test" },
          ]}
          value={split}
          onChange={setSplit}
          allowDeselect={false}
          data-testid="upload-split"
        />
      </Group>
      <Switch
        checked={folderLabels}
        onChange={(e) => setFolderLabels(e.currentTarget.checked)}
        label="Use folder names as labels when I drop folders"
        description="Dropping ants/ and bees/ labels each image by its folder."
      />
      <Dropzone
        onDrop={onDrop}
        onReject={(rejections) =>
          notifyError(new Error(`${plural(rejections.length, "file")} could not be read by the browser.`))
        }
        multiple
        useFsAccessApi={false}
        data-testid="file-dropzone"
        inputProps={{ "aria-label": "Choose images or a zip to upload", ...({ "data-testid": "upload-input" } as object) }}
      >
        <Group justify="center" gap="lg" mih={120} style={{ pointerEvents: "none" }}>
          <Dropzone.Accept>
            <IconUpload size={44} color="var(--mantine-color-crust-6)" />
          </Dropzone.Accept>
          <Dropzone.Reject>
            <IconX size={44} color="var(--mantine-color-red-6)" />
          </Dropzone.Reject>
          <Dropzone.Idle>
            <IconPhotoUp size={44} color="var(--mantine-color-dimmed)" />
          </Dropzone.Idle>
          <div>
            <Text size="lg" fw={600}>
              Drag images, folders or a zip here
            </Text>
            <Text size="sm" c="dimmed">
              or click to choose files · JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC · .zip · .csv of url,label
            </Text>
          </div>
        </Group>
      </Dropzone>

      {pendingArchives.map((a) => (
        <Stack key={a.key} gap={4} data-testid="archive-upload">
          <Group justify="space-between">
            <Group gap={6}>
              <IconFileZip size={18} />
              <Text size="sm">{a.name}</Text>
              <Text size="xs" c="dimmed">
                {formatBytes(a.size)}
              </Text>
            </Group>
            <Text size="xs" c={a.error ? "red" : "dimmed"}>
              {a.error ?? `Uploading ${Math.round(a.progress * 100)}%`}
            </Text>
          </Group>
          <Progress value={a.error ? 100 : a.progress * 100} color={a.error ? "red" : "blue"} size="sm" />
        </Stack>
      ))}

      <ImportJobs projectId={projectId} />

      {total > 0 && (
        <Stack gap="xs">
          <Group justify="space-between">
            <Group gap="xs">
              <Text
                size="sm"
                fw={600}
                data-testid="upload-summary"
                data-busy={busy}
                data-created={counts.created}
                data-duplicates={counts.duplicate}
                data-rejected={counts.rejected + counts.failed}
              >
                {busy ? `Uploading ${formatNumber(finished)} of ${formatNumber(total)}` : `Uploaded ${formatNumber(total)} files`}
              </Text>
              <Badge color="teal" variant="light">
                {formatNumber(counts.created)} added
              </Badge>
              {counts.duplicate > 0 && (
                <Tooltip label="These images are already in the project; they were not added twice.">
                  <Badge color="yellow" variant="light">
                    {formatNumber(counts.duplicate)} duplicates
                  </Badge>
                </Tooltip>
              )}
              {counts.rejected + counts.failed > 0 && (
                <Badge color="red" variant="light" data-testid="upload-rejected-count">
                  {formatNumber(counts.rejected + counts.failed)} rejected
                </Badge>
              )}
            </Group>
            <Group gap="xs">
              {problems.length > 0 && (
                <SegmentedControl
                  size="xs"
                  value={show}
                  onChange={(v) => setShow(v as "all" | "problems")}
                  data={[
                    { value: "all", label: "All files" },
                    { value: "problems", label: `Not added (${problems.length})` },
                  ]}
                  data-testid="upload-show"
                  data-not-added={problems.length}
                />
              )}
              {!busy && (
                <Button size="xs" variant="subtle" color="gray" onClick={() => {
                    fileCount.current = 0;
                    dispatch({ type: "clear" });
                  }}>
                  Clear list
                </Button>
              )}
            </Group>
          </Group>
          <Progress
            value={total ? (finished / total) * 100 : 0}
            size="md"
            striped={busy}
            animated={busy}
            data-testid="upload-progress"
            aria-label="Upload progress"
          />
          {!busy && problems.length > 0 && (
            <Alert
              color={refused > 0 ? "red" : "yellow"}
              variant="light"
              icon={<IconAlertTriangle size={18} />}
              data-testid="upload-rejected"
              data-not-added={problems.length}
            >
              {plural(problems.length, "file was", "files were")} not added
              {counts.duplicate > 0 && refused > 0
                ? `: ${formatNumber(counts.duplicate)} already in the project, ${formatNumber(refused)} refused`
                : counts.duplicate > 0
                  ? ": the project already has them"
                  : ""}
              . Each one says why below{refused > 0 ? " (for example, not an image, damaged, or too large)" : ""}.
            </Alert>
          )}
          <FileList files={shown} batchProgress={state.batchProgress} />
        </Stack>
      )}
    </Stack>
  );
}
