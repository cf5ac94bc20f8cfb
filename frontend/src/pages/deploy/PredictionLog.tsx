import {
  Avatar,
  Badge,
  Button,
  Card,
  Group,
  Popover,
  ScrollArea,
  SegmentedControl,
  Select,
  Stack,
  Table,
  Text,
} from "@mantine/core";
import { IconCheck, IconDatabasePlus, IconPhoto } from "@tabler/icons-react";
import { useState } from "react";
import { useSearchParams } from "react-router";
import { rows } from "../../api/adapters";
import { useLabels, usePredictionAddToDataset, usePredictions } from "../../api/hooks";
import type { PredictionLogEntry } from "../../api/types";
import { ErrorState } from "../../components/States";
import { formatLatency, formatPercent, formatRelative } from "../../lib/format";
import { notifySuccess } from "../../lib/notify";

/** Uncertain predictions first (they are the ones worth a look), then the rest, newest first. */
export function orderUncertainFirst(uncertain: PredictionLogEntry[], all: PredictionLogEntry[]): PredictionLogEntry[] {
  const seen = new Set(uncertain.map((p) => p.id));
  return [...uncertain, ...all.filter((p) => !seen.has(p.id) && !p.uncertain)];
}

function AddToDataset({ entry, slug, projectId, labels }: { entry: PredictionLogEntry; slug: string; projectId: number; labels: string[] }) {
  const [opened, setOpened] = useState(false);
  const [label, setLabel] = useState<string | null>(entry.label);
  const add = usePredictionAddToDataset(slug, projectId, entry.id, {
    onSuccess: (answer) => {
      setOpened(false);
      notifySuccess(
        answer.created
          ? `Added to the data set as “${label}”.`
          : `The data set already had this image; it is labeled “${answer.label ?? label}” now.`,
      );
    },
  });
  if (entry.added_image) {
    return (
      <Badge color="teal" variant="light" leftSection={<IconCheck size={12} />}>
        In data set
      </Badge>
    );
  }
  if (!entry.image_url) {
    return (
      <Text size="xs" c="dimmed">
        Image not kept
      </Text>
    );
  }
  return (
    <Popover opened={opened} onChange={setOpened} position="left" withArrow shadow="md" trapFocus>
      <Popover.Target>
        <Button
          size="xs"
          variant="light"
          leftSection={<IconDatabasePlus size={14} />}
          onClick={() => setOpened((o) => !o)}
          data-testid="add-to-dataset"
        >
          Add to data set
        </Button>
      </Popover.Target>
      <Popover.Dropdown>
        <Stack gap="xs" w={220}>
          <Select
            label="With the label"
            data={labels}
            value={label}
            onChange={setLabel}
            allowDeselect={false}
            comboboxProps={{ withinPortal: false }}
            data-testid="add-to-dataset-label"
          />
          <Button size="xs" loading={add.isPending} disabled={!label} onClick={() => label && add.mutate(label)} data-testid="add-to-dataset-confirm">
            Add
          </Button>
        </Stack>
      </Popover.Dropdown>
    </Popover>
  );
}

export function PredictionLog({ slug, projectId }: { slug: string; projectId: number }) {
  const [params, setParams] = useSearchParams();
  const view = params.get("log") === "all" ? "all" : params.get("log") === "uncertain" ? "uncertain" : "review";
  const uncertain = usePredictions(slug, true);
  const all = usePredictions(slug, false);
  const labels = useLabels(projectId);
  const labelNames = (labels.data ?? []).map((l) => l.name);

  const uncertainRows = rows(uncertain.data);
  const allRows = rows(all.data);
  const shown =
    view === "uncertain" ? uncertainRows : view === "all" ? allRows : orderUncertainFirst(uncertainRows, allRows);
  const error = uncertain.error ?? all.error;

  return (
    <Card data-testid="prediction-log">
      <Group justify="space-between" mb="sm">
        <div>
          <Text fw={600}>Predictions</Text>
          <Text size="xs" c="dimmed">
            What the API answered recently. Uncertain answers are the best images to label and add to the data set.
          </Text>
        </div>
        <SegmentedControl
          size="xs"
          value={view}
          onChange={(v) =>
            setParams(
              (prev) => {
                const next = new URLSearchParams(prev);
                if (v === "review") next.delete("log");
                else next.set("log", v);
                return next;
              },
              { replace: true },
            )
          }
          data={[
            { value: "review", label: "Uncertain first" },
            { value: "uncertain", label: "Only uncertain" },
            { value: "all", label: "Newest" },
          ]}
        />
      </Group>
      {error ? (
        <ErrorState error={error} onRetry={() => (uncertain.refetch(), all.refetch())} />
      ) : shown.length === 0 ? (
        <Text size="sm" c="dimmed" ta="center" py="lg">
          {uncertain.isPending || all.isPending
            ? "Loading…"
            : "No predictions yet. Use “Try it” above, or call the API from your program."}
        </Text>
      ) : (
        <ScrollArea>
          <Table verticalSpacing="xs" highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Image</Table.Th>
                <Table.Th>Prediction</Table.Th>
                <Table.Th>Confidence</Table.Th>
                <Table.Th>Time</Table.Th>
                <Table.Th>Model</Table.Th>
                <Table.Th>Answered</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {shown.map((p) => (
                <Table.Tr key={p.id} data-testid="prediction-row" data-uncertain={p.uncertain}>
                  <Table.Td>
                    <Avatar src={p.image_url ?? undefined} radius="sm" size={44}>
                      <IconPhoto size={18} />
                    </Avatar>
                  </Table.Td>
                  <Table.Td>
                    <Group gap={6}>
                      <Text size="sm" fw={600}>
                        {p.label}
                      </Text>
                      {p.uncertain && (
                        <Badge size="xs" color="yellow" variant="light">
                          uncertain
                        </Badge>
                      )}
                    </Group>
                    {p.predictions?.[1] && (
                      <Text size="xs" c="dimmed">
                        next: {p.predictions[1].label} {formatPercent(p.predictions[1].confidence, 0)}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>{formatPercent(p.confidence)}</Table.Td>
                  <Table.Td>{formatLatency(p.latency_ms)}</Table.Td>
                  <Table.Td>
                    <Text size="sm">{p.model_version_number ? `v${p.model_version_number}` : "—"}</Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs">{formatRelative(p.created_at)}</Text>
                    <Text size="xs" c="dimmed">
                      {p.source === "try" ? "tried here" : "by the API"}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <AddToDataset entry={p} slug={slug} projectId={projectId} labels={labelNames} />
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </ScrollArea>
      )}
    </Card>
  );
}
