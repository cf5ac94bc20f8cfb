import {
  Alert,
  Badge,
  Button,
  Card,
  FileButton,
  Group,
  Progress,
  SegmentedControl,
  Stack,
  Table,
  Text,
  Textarea,
} from "@mantine/core";
import { IconAlertTriangle, IconDownload, IconFileZip, IconLink } from "@tabler/icons-react";
import { useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { errorMessage } from "../../api/client";
import { formatDuration, formatRelative, isActive, statusColor, statusLabel } from "../../lib/format";
import { notifySuccess } from "../../lib/notify";
import {
  batchKeys,
  batchProgressText,
  batchSecondsLeft,
  batchUpload,
  parseUrls,
  useBatches,
  useBatchUrls,
  type Batch,
} from "./BatchHelpers";

function BatchRow({ batch }: { batch: Batch }) {
  const active = isActive(batch.status);
  const left = batchSecondsLeft(batch);
  return (
    <Table.Tr data-testid="batch-row" data-status={batch.status}>
      <Table.Td>
        <Text size="sm" fw={500}>
          #{batch.id} · {batch.kind === "zip" ? batch.archive_filename || "zip" : "addresses"}
        </Text>
        <Text size="xs" c="dimmed">
          {formatRelative(batch.created)} · v{batch.model_version_number}
          {batch.precision === "int8" ? " · int8" : ""}
        </Text>
      </Table.Td>
      <Table.Td style={{ minWidth: 200 }}>
        <Group gap="xs" mb={4}>
          <Badge size="sm" variant="light" color={statusColor(batch.status)}>
            {statusLabel(batch.status)}
          </Badge>
          <Text size="xs" c="dimmed" data-testid="batch-progress">
            {batchProgressText(batch)}
            {left !== null ? ` · about ${formatDuration(left)} left` : ""}
          </Text>
        </Group>
        {active && <Progress value={batch.progress * 100} size="sm" animated aria-label="Batch progress" />}
        {batch.error && (
          <Text size="xs" c="red">
            {batch.error}
          </Text>
        )}
      </Table.Td>
      <Table.Td>
        <Group gap={4} wrap="nowrap">
          <Button
            size="compact-xs"
            variant="default"
            component="a"
            href={batch.results_csv}
            leftSection={<IconDownload size={12} />}
            disabled={batch.done === 0}
            data-testid="batch-csv"
          >
            CSV
          </Button>
          <Button
            size="compact-xs"
            variant="subtle"
            component="a"
            href={batch.results_json}
            disabled={batch.done === 0}
          >
            JSON
          </Button>
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}

/** Classify many images at once with the deployment's live model: a zip or a list of addresses, in the background. */
export function Batches({ slug }: { slug: string }) {
  const [source, setSource] = useState<"zip" | "urls">("zip");
  const [text, setText] = useState("");
  const [uploading, setUploading] = useState<number | null>(null);
  const [uploadError, setUploadError] = useState<string | null>(null);
  const resetFile = useRef<() => void>(null);
  const queryClient = useQueryClient();
  const batches = useBatches(slug);
  const submitUrls = useBatchUrls(slug);
  const urls = parseUrls(text);

  const started = (batch: Batch) =>
    notifySuccess(`Batch #${batch.id}: ${batch.total.toLocaleString("en-US")} images queued.`, "Batch started");

  async function upload(file: File | null) {
    if (!file) return;
    setUploadError(null);
    setUploading(0);
    try {
      const batch = await batchUpload(slug, file, {
        onProgress: (p) => setUploading(p.total ? p.loaded / p.total : 0),
      });
      started(batch);
      await queryClient.invalidateQueries({ queryKey: batchKeys.list(slug) });
    } catch (error) {
      setUploadError(errorMessage(error));
    } finally {
      setUploading(null);
      resetFile.current?.();
    }
  }

  const list = batches.data ?? [];
  return (
    <Card data-testid="batches">
      <Stack gap="sm">
        <div>
          <Text fw={600}>Batch prediction</Text>
          <Text size="xs" c="dimmed">
            Many images at once, in the background, with the model version, precision and threshold this deployment
            has now. One result row per image: label, confidence, uncertain, out of distribution, or why it could not
            be read.
          </Text>
        </div>
        <SegmentedControl
          size="xs"
          w="fit-content"
          value={source}
          onChange={(v) => setSource(v as "zip" | "urls")}
          data={[
            { value: "zip", label: "Upload a zip" },
            { value: "urls", label: "Paste addresses" },
          ]}
          aria-label="What to predict"
        />
        {source === "zip" ? (
          <Group gap="sm">
            <FileButton resetRef={resetFile} onChange={upload} accept=".zip,application/zip">
              {(props) => (
                <Button
                  {...props}
                  size="xs"
                  leftSection={<IconFileZip size={14} />}
                  loading={uploading !== null}
                  data-testid="batch-upload"
                >
                  Choose a zip of images
                </Button>
              )}
            </FileButton>
            {uploading !== null && (
              <Progress value={uploading * 100} w={160} size="sm" aria-label="Upload progress" />
            )}
            <Text size="xs" c="dimmed">
              Folders inside the zip are kept in the file names.
            </Text>
          </Group>
        ) : (
          <Stack gap="xs">
            <Textarea
              value={text}
              onChange={(e) => setText(e.currentTarget.value)}
              placeholder={"https://example.com/photo-1.jpg\nhttps://example.com/photo-2.jpg"}
              autosize
              minRows={3}
              maxRows={8}
              classNames={{ input: "mono" }}
              aria-label="Image addresses, one per line"
              data-testid="batch-urls"
            />
            <Group gap="sm">
              <Button
                size="xs"
                leftSection={<IconLink size={14} />}
                disabled={urls.length === 0}
                loading={submitUrls.isPending}
                onClick={() =>
                  submitUrls.mutate(urls, {
                    onSuccess: (batch) => {
                      started(batch);
                      setText("");
                    },
                  })
                }
                data-testid="batch-submit-urls"
              >
                Predict {urls.length ? urls.length.toLocaleString("en-US") : ""} addresses
              </Button>
            </Group>
          </Stack>
        )}
        {(uploadError || submitUrls.isError) && (
          <Alert color="red" variant="light" icon={<IconAlertTriangle size={18} />} data-testid="batch-error">
            {uploadError ?? errorMessage(submitUrls.error)}
          </Alert>
        )}
        {batches.isError ? (
          <Text size="sm" c="red">
            {errorMessage(batches.error)}
          </Text>
        ) : list.length === 0 ? (
          !batches.isPending && (
            <Text size="sm" c="dimmed">
              No batches yet.
            </Text>
          )
        ) : (
          <Table verticalSpacing={6} data-testid="batch-list">
            <Table.Tbody>
              {list.map((batch) => (
                <BatchRow key={batch.id} batch={batch} />
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Stack>
    </Card>
  );
}
