import { Alert, Anchor, Badge, Button, Collapse, Group, List, Progress, Stack, Text } from "@mantine/core";
import { IconFileZip } from "@tabler/icons-react";
import { useEffect, useRef, useState } from "react";
import { useDatasetRefresh, useImportJob, useImportRetry, useImports } from "../../api/hooks";
import type { ImportJob } from "../../api/types";
import { formatNumber, formatRelative, isActive, statusColor, statusLabel } from "../../lib/format";

function ImportReport({ jobId }: { jobId: number }) {
  const job = useImportJob(jobId);
  if (job.isPending) return <Text size="xs">Loading the report…</Text>;
  if (job.isError) return <Text size="xs" c="red">The report could not be loaded.</Text>;
  const rejected = job.data.report?.rejected ?? [];
  const duplicates = job.data.report?.duplicates ?? [];
  if (!rejected.length && !duplicates.length) return <Text size="xs">Every file was added.</Text>;
  return (
    <Stack gap={4}>
      {rejected.length > 0 && (
        <>
          <Text size="xs" fw={600}>
            Not added ({rejected.length})
          </Text>
          <List size="xs" spacing={2} data-testid="import-rejected">
            {rejected.slice(0, 200).map((r, i) => (
              <List.Item key={i}>
                <Text span size="xs" fw={500}>
                  {r.filename}
                </Text>
                : {r.error}
              </List.Item>
            ))}
          </List>
        </>
      )}
      {duplicates.length > 0 && (
        <Text size="xs" c="dimmed">
          {formatNumber(duplicates.length)} were already in the project and were skipped.
        </Text>
      )}
    </Stack>
  );
}

function ImportRow({ job }: { job: ImportJob }) {
  const [open, setOpen] = useState(false);
  const active = isActive(job.status);
  const retry = useImportRetry(job.id);
  const counts = job.counts ?? {
    created: job.report?.created?.length,
    duplicates: job.report?.duplicates?.length,
    rejected: job.report?.rejected?.length,
  };
  return (
    <Stack gap={4} data-testid="import-job" data-status={job.status}>
      <Group justify="space-between" wrap="nowrap">
        <Group gap={6} wrap="nowrap" style={{ minWidth: 0 }}>
          <IconFileZip size={18} />
          <Text size="sm" truncate>
            {job.upload_filename || `Import #${job.id}`}
          </Text>
          <Badge size="sm" variant="light" color={statusColor(job.status)}>
            {job.status === "running" ? `Importing ${formatNumber(job.processed)} of ${formatNumber(job.total)}` : statusLabel(job.status)}
          </Badge>
        </Group>
        <Group gap="xs" wrap="nowrap">
          {!active && job.status !== "failed" && (
            <Text size="xs" c="dimmed">
              {formatNumber(counts.created ?? 0)} added · {formatNumber(counts.duplicates ?? 0)} duplicates ·{" "}
              {formatNumber(counts.rejected ?? 0)} rejected
            </Text>
          )}
          <Text size="xs" c="dimmed">
            {formatRelative(job.created_at)}
          </Text>
          {!active && (
            <Anchor size="xs" component="button" type="button" onClick={() => setOpen((o) => !o)}>
              {open ? "Hide report" : "Report"}
            </Anchor>
          )}
        </Group>
      </Group>
      {active && (
        <Progress
          value={job.total ? (job.processed / job.total) * 100 : 5}
          striped
          animated
          size="sm"
          aria-label="Import progress"
          data-testid="import-progress"
        />
      )}
      {job.status === "failed" && (
        <Alert color="red" variant="light" p="xs">
          <Group justify="space-between">
            <Text size="sm">{job.error || "The import stopped."}</Text>
            <Button size="xs" variant="white" color="red" loading={retry.isPending} onClick={() => retry.mutate()}>
              Try again
            </Button>
          </Group>
        </Alert>
      )}
      <Collapse in={open}>{open && <ImportReport jobId={job.id} />}</Collapse>
    </Stack>
  );
}

/** Zip/CSV imports run in the background; their progress comes from the server, so it survives a reload. */
export function ImportJobs({ projectId }: { projectId: number }) {
  const imports = useImports(projectId);
  const refresh = useDatasetRefresh(projectId);
  const previous = useRef<Map<number, string>>(new Map());

  // When an import finishes, show its images.
  useEffect(() => {
    if (!imports.data) return;
    let finished = false;
    for (const job of imports.data) {
      const before = previous.current.get(job.id);
      if (before && isActive(before) && !isActive(job.status)) finished = true;
      previous.current.set(job.id, job.status);
    }
    if (finished) refresh();
  }, [imports.data, refresh]);

  const recent = (imports.data ?? []).filter((job) => {
    if (isActive(job.status) || job.status === "failed") return true;
    const created = job.created_at ? new Date(job.created_at).getTime() : 0;
    return Date.now() - created < 24 * 3600 * 1000;
  });
  if (!recent.length) return null;
  return (
    <Stack gap="sm">
      <Text size="sm" fw={600}>
        Imports
      </Text>
      {recent.slice(0, 5).map((job) => (
        <ImportRow key={job.id} job={job} />
      ))}
    </Stack>
  );
}
