import "@mantine/charts/styles.css";
import { BarChart } from "@mantine/charts";
import { Alert, Card, Group, SimpleGrid, Skeleton, Stack, Text } from "@mantine/core";
import { IconAlertTriangle, IconInfoCircle } from "@tabler/icons-react";
import { useStats } from "../../api/hooks";
import { ErrorState } from "../../components/States";
import { formatNumber } from "../../lib/format";

const SERIES = [
  { name: "train", label: "Train", color: "crust.6" },
  { name: "val", label: "Validation", color: "blue.6" },
  { name: "test", label: "Test", color: "teal.6" },
  { name: "unassigned", label: "Not assigned", color: "gray.5" },
];

function Stat({ label, value, testId }: { label: string; value: number; testId?: string }) {
  return (
    <div>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text fw={700} size="lg" data-testid={testId}>
        {formatNumber(value)}
      </Text>
    </div>
  );
}

/** The class balance as a stacked bar chart (by split), with the warnings to read before training. */
export function ClassBalance({ projectId }: { projectId: number }) {
  const stats = useStats(projectId);
  if (stats.isPending) return <Skeleton h={260} radius="md" />;
  if (stats.isError) return <ErrorState error={stats.error} onRetry={() => stats.refetch()} />;
  const s = stats.data;
  const data = s.per_label.map((row) => ({
    label: row.label,
    train: row.splits.train ?? 0,
    val: row.splits.val ?? 0,
    test: row.splits.test ?? 0,
    unassigned: row.splits.unassigned ?? (Object.keys(row.splits).length ? 0 : row.count),
  }));
  const usedSeries = SERIES.filter((series) => data.some((d) => d[series.name as keyof typeof d] as number > 0));

  return (
    <Stack gap="md">
      <Card padding="md">
        <SimpleGrid cols={2} spacing="sm">
          <Stat label="Images" value={s.total} testId="stat-total" />
          <Stat label="Unlabeled" value={s.unlabeled} testId="stat-unlabeled" />
          <Stat label="Labeled" value={s.labeled} />
          <Stat label="Duplicates skipped" value={s.duplicates_rejected} />
        </SimpleGrid>
      </Card>
      <Card padding="md" data-testid="class-balance">
        <Text fw={600} size="sm" mb="xs">
          Class balance
        </Text>
        {data.length === 0 ? (
          <Text size="sm" c="dimmed">
            Add labels to see how many images each one has.
          </Text>
        ) : s.labeled === 0 ? (
          <Stack gap={6}>
            {data.map((row) => (
              <Group key={row.label} justify="space-between">
                <Text size="sm">{row.label}</Text>
                <Text size="sm" c="dimmed">
                  0 images
                </Text>
              </Group>
            ))}
            <Text size="xs" c="dimmed">
              The chart appears once images have labels.
            </Text>
          </Stack>
        ) : (
          <BarChart
            h={Math.max(160, Math.min(420, data.length * 34 + 40))}
            data={data}
            dataKey="label"
            type="stacked"
            orientation="vertical"
            series={usedSeries.length ? usedSeries : SERIES.slice(0, 1)}
            withLegend={usedSeries.length > 1}
            legendProps={{ verticalAlign: "bottom" }}
            gridAxis="none"
            yAxisProps={{ width: 80 }}
            tickLine="none"
            barProps={{ radius: 2 }}
          />
        )}
      </Card>
      {s.warnings.length > 0 ? (
        <Stack gap="xs" data-testid="dataset-warnings">
          {s.warnings.map((w, i) => (
            <Alert key={`${w.code}-${i}`} color="yellow" variant="light" icon={<IconAlertTriangle size={18} />} p="sm">
              <Text size="sm">{w.message}</Text>
            </Alert>
          ))}
        </Stack>
      ) : (
        s.total > 0 && (
          <Alert color="teal" variant="light" icon={<IconInfoCircle size={18} />} p="sm">
            <Group gap={4}>
              <Text size="sm">The data set looks ready to train.</Text>
            </Group>
          </Alert>
        )
      )}
    </Stack>
  );
}
