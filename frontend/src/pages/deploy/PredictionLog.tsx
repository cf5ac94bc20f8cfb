import { Avatar, Badge, Card, Group, ScrollArea, SegmentedControl, Table, Text } from "@mantine/core";
import { IconPhoto } from "@tabler/icons-react";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { useSearchParams } from "react-router";
import { rows } from "../../api/adapters";
import { useDeployments, useLabels, usePredictions } from "../../api/hooks";
import { keys } from "../../api/hooks/keys";
import type { PredictionLogEntry } from "../../api/types";
import { ErrorState } from "../../components/States";
import { formatLatency, formatPercent, formatRelative } from "../../lib/format";
import { AddToDataset } from "./AddToDataset";

/** Uncertain predictions first (they are the ones worth a look), then the rest, newest first. */
export function orderUncertainFirst(uncertain: PredictionLogEntry[], all: PredictionLogEntry[]): PredictionLogEntry[] {
  const seen = new Set(uncertain.map((p) => p.id));
  return [...uncertain, ...all.filter((p) => !seen.has(p.id) && !p.uncertain)];
}

export function PredictionLog({ slug, projectId }: { slug: string; projectId: number }) {
  const [params, setParams] = useSearchParams();
  const view = params.get("log") === "all" ? "all" : params.get("log") === "uncertain" ? "uncertain" : "review";
  const uncertain = usePredictions(slug, true);
  const all = usePredictions(slug, false);
  // "Uncertain" is read with the deployment's threshold as it is now (the server applies it
  // to stored confidences): a saved threshold re-reads the log.
  const threshold = useDeployments(projectId).data?.find((d) => d.slug === slug)?.threshold;
  const queryClient = useQueryClient();
  const seenThreshold = useRef(threshold);
  useEffect(() => {
    if (seenThreshold.current !== undefined && threshold !== undefined && seenThreshold.current !== threshold) {
      queryClient.invalidateQueries({ queryKey: keys.predictionLog(slug) });
    }
    if (threshold !== undefined) seenThreshold.current = threshold;
  }, [threshold, slug, queryClient]);
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
            : view === "uncertain" && allRows.length > 0
              ? `No prediction is below the uncertainty threshold${threshold !== undefined ? ` (${formatPercent(threshold, 0)})` : ""}.`
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
