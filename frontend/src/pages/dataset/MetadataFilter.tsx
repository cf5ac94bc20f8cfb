import { ActionIcon, Alert, Badge, Button, FileButton, Group, Select, Stack, Text } from "@mantine/core";
import { IconFileSpreadsheet, IconX } from "@tabler/icons-react";
import { useMemo, useState } from "react";
import { errorMessage } from "../../api/client";
import { useMetadataColumns, useMetadataUpload } from "../../api/hooks";
import { formatNumber, plural } from "../../lib/format";

/** Unmatched names quoted in the report (the count is always complete). */
const UNMATCHED_SHOWN = 5;

/**
 * The sidebar's metadata section: attach columns (camera, site, date…) from a CSV, see which
 * rows found their image, and show only the images whose column has a value. The filter
 * lives in the URL as `meta.<column>=<value>`, like the API's.
 */
export function MetadataFilter({
  projectId,
  meta,
  onMeta,
}: {
  projectId: number;
  /** The metadata filter applied: column -> value. */
  meta: Record<string, string>;
  /** Filters a column by a value, or (null) stops filtering it. */
  onMeta: (column: string, value: string | null) => void;
}) {
  const columns = useMetadataColumns(projectId);
  const upload = useMetadataUpload(projectId);
  const [column, setColumn] = useState<string | null>(null);
  const chosen = useMemo(() => columns.data?.find((c) => c.key === column), [columns.data, column]);
  const applied = Object.entries(meta);
  const report = upload.data;

  return (
    <Stack gap={6} mt="md" px="xs" data-testid="metadata-filter">
      <Group justify="space-between" wrap="nowrap">
        <Text fw={600} size="sm">
          Metadata
        </Text>
        <FileButton onChange={(file) => file && upload.mutate(file)} accept=".csv,text/csv">
          {(props) => (
            <Button
              {...props}
              size="compact-xs"
              variant="subtle"
              leftSection={<IconFileSpreadsheet size={14} />}
              loading={upload.isPending}
              data-testid="metadata-csv-upload"
            >
              Attach a CSV
            </Button>
          )}
        </FileButton>
      </Group>
      {upload.isError && (
        <Alert color="red" variant="light" p="xs" data-testid="metadata-error">
          <Text size="xs">{errorMessage(upload.error)}</Text>
        </Alert>
      )}
      {report && (
        <Alert
          color={report.unmatched_rows ? "yellow" : "teal"}
          variant="light"
          p="xs"
          withCloseButton
          onClose={() => upload.reset()}
          data-testid="metadata-report"
          data-matched={report.matched_rows}
          data-unmatched={report.unmatched_rows}
        >
          <Text size="xs">
            {formatNumber(report.matched_rows)} of {plural(report.rows, "row")} matched (by{" "}
            {report.matched_by === "external_id" ? "external_id" : "file name"}), {plural(report.images_updated, "image")}{" "}
            updated{report.keys.length ? `: ${report.keys.join(", ")}` : ""}.
          </Text>
          {report.unmatched_rows > 0 && (
            <Text size="xs" mt={4} data-testid="metadata-unmatched">
              {plural(report.unmatched_rows, "row")} matched no image: {report.unmatched.slice(0, UNMATCHED_SHOWN).join(", ")}
              {report.unmatched_rows > UNMATCHED_SHOWN ? "…" : ""}
            </Text>
          )}
        </Alert>
      )}
      {applied.map(([key, value]) => (
        <Badge
          key={key}
          variant="light"
          size="lg"
          tt="none"
          rightSection={
            <ActionIcon size="xs" variant="transparent" aria-label={`Stop filtering by ${key}`} onClick={() => onMeta(key, null)}>
              <IconX size={12} />
            </ActionIcon>
          }
          data-testid="metadata-filter-chip"
          data-key={key}
        >
          {key} = {value}
        </Badge>
      ))}
      {columns.data && columns.data.length > 0 ? (
        <>
          <Select
            size="xs"
            label="Column"
            placeholder="Choose a column"
            data={columns.data.map((c) => ({ value: c.key, label: `${c.key} (${formatNumber(c.images)})` }))}
            value={column}
            onChange={setColumn}
            searchable
            data-testid="metadata-column"
          />
          {chosen && (
            <Select
              size="xs"
              label={`Show images whose ${chosen.key} is`}
              placeholder="Choose a value"
              data={chosen.values.map((v) => ({ value: v.value, label: `${v.value} (${formatNumber(v.count)})` }))}
              value={meta[chosen.key] ?? null}
              onChange={(value) => onMeta(chosen.key, value)}
              searchable
              clearable
              description={chosen.truncated ? `The ${chosen.values.length} most frequent values` : undefined}
              data-testid="metadata-value"
            />
          )}
        </>
      ) : (
        columns.isSuccess && (
          <Text size="xs" c="dimmed">
            No columns yet. A CSV's first column names the file (or external_id); the others are attached to the image.
          </Text>
        )
      )}
    </Stack>
  );
}
