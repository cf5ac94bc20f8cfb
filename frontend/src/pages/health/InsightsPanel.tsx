import { Alert, Button, Card, FileButton, Group, Select, Stack, Table, Text, Title } from "@mantine/core";
import { LineChart } from "@mantine/charts";
import { IconFileSpreadsheet } from "@tabler/icons-react";
import { useState } from "react";
import { errorMessage } from "../../api/client";
import { useLearningCurve, useMetadataUpload, useSlices } from "../../api/hooks";
import { ErrorState, PageLoader } from "../../components/States";
import { formatPercent, plural } from "../../lib/format";

/** Accuracy against images per class, and what more images of which label should bring. */
function LearningCurvePanel({ projectId }: { projectId: number }) {
  const curve = useLearningCurve(projectId);
  if (curve.isPending) return <PageLoader />;
  if (curve.isError) return <ErrorState error={curve.error} onRetry={() => curve.refetch()} />;
  const { points, advice } = curve.data;
  return (
    <Card withBorder padding="md" data-testid="learning-curve">
      <Title order={3} size="h5" mb="xs">
        Would more images help?
      </Title>
      {points.length < 2 ? (
        <Text size="sm" c="dimmed">
          The curve needs a trained model and a few labelled images per class.
        </Text>
      ) : (
        <>
          <LineChart
            h={220}
            data={points.map((p) => ({ per_class: Math.round(p.per_class), accuracy: p.accuracy * 100, low: p.low * 100, high: p.high * 100 }))}
            dataKey="per_class"
            series={[
              { name: "accuracy", label: "Accuracy", color: "blue.6" },
              { name: "low", label: "95 % low", color: "gray.4" },
              { name: "high", label: "95 % high", color: "gray.4" },
            ]}
            xAxisLabel="Images per class"
            yAxisProps={{ domain: ["auto", 100] }}
            valueFormatter={(v) => `${v.toFixed(1)}%`}
            withLegend
          />
          <Stack gap={4} mt="sm" data-testid="learning-curve-advice">
            {advice.length === 0 ? (
              <Text size="sm">The curve is flat: more images of the same kind should change little. Look at the fix queue instead.</Text>
            ) : (
              advice.map((a) => (
                <Text key={a.label} size="sm">
                  {a.sentence}
                </Text>
              ))
            )}
          </Stack>
        </>
      )}
    </Card>
  );
}

/** Accuracy per value of a metadata column, worst first, and the CSV that attaches columns. */
function SlicesPanel({ projectId }: { projectId: number }) {
  const [key, setKey] = useState<string | null>(null);
  const slices = useSlices(projectId, key);
  const upload = useMetadataUpload(projectId);
  const keys = slices.data?.keys ?? [];
  const chosen = key ?? null;

  return (
    <Card withBorder padding="md" data-testid="slices">
      <Group justify="space-between" mb="xs">
        <Title order={3} size="h5">
          Where does the model do worse?
        </Title>
        <FileButton onChange={(file) => file && upload.mutate(file)} accept=".csv,text/csv">
          {(props) => (
            <Button {...props} size="xs" variant="light" leftSection={<IconFileSpreadsheet size={14} />} loading={upload.isPending} data-testid="metadata-upload">
              Attach columns from a CSV
            </Button>
          )}
        </FileButton>
      </Group>
      <Text size="xs" c="dimmed" mb="sm">
        First column: the file name (or a column named external_id); every other column (camera, site, date…) is attached to
        the matching images.
      </Text>
      {upload.isError && (
        <Alert color="red" variant="light" mb="sm">
          {errorMessage(upload.error)}
        </Alert>
      )}
      {upload.data && (
        <Alert color="teal" variant="light" mb="sm" data-testid="metadata-report">
          {plural(upload.data.matched_rows, "row")} of {upload.data.rows} matched, {plural(upload.data.images_updated, "image")} updated
          {upload.data.keys.length ? ` (columns: ${upload.data.keys.join(", ")})` : ""}.
          {upload.data.unmatched_rows ? ` Not found: ${upload.data.unmatched.slice(0, 5).join(", ")}${upload.data.unmatched_rows > 5 ? "…" : ""}` : ""}
        </Alert>
      )}
      {slices.isError ? (
        <ErrorState error={slices.error} onRetry={() => slices.refetch()} />
      ) : keys.length === 0 ? (
        <Text size="sm" c="dimmed">
          No metadata yet: attach a CSV to see accuracy per camera, site, date or customer.
        </Text>
      ) : (
        <>
          <Select size="xs" w={240} label="Column" data={keys} value={chosen} onChange={setKey} placeholder="Choose a column" />
          {chosen && slices.data && (
            <Table mt="sm" striped>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{chosen}</Table.Th>
                  <Table.Th>Accuracy</Table.Th>
                  <Table.Th>95 % interval</Table.Th>
                  <Table.Th>Images</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {slices.data.slices.map((s) => (
                  <Table.Tr key={s.value ?? "(none)"} data-testid="slice-row">
                    <Table.Td>{s.value ?? <Text c="dimmed">(not set)</Text>}</Table.Td>
                    <Table.Td>{formatPercent(s.accuracy)}</Table.Td>
                    <Table.Td>
                      {formatPercent(s.low)} – {formatPercent(s.high)}
                    </Table.Td>
                    <Table.Td>{s.images}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </>
      )}
    </Card>
  );
}

export function InsightsPanel({ projectId }: { projectId: number }) {
  return (
    <Stack gap="md" data-testid="insights">
      <LearningCurvePanel projectId={projectId} />
      <SlicesPanel projectId={projectId} />
    </Stack>
  );
}
