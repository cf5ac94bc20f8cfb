/** A deployment's Monitoring page: traffic, latency, error/uncertain/out-of-distribution
 * rates and the predicted label mix against the training mix over a chosen window, with
 * the drift status, alerts and thresholds. */
import "@mantine/charts/styles.css";
import { AreaChart, BarChart, LineChart } from "@mantine/charts";
import { Alert, Anchor, Card, Group, SegmentedControl, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { IconArrowLeft } from "@tabler/icons-react";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { PageLoader } from "../../components/States";
import { formatLatency, formatNumber, formatPercent } from "../../lib/format";
import { useProjectContext } from "../project/context";
import { AlertList, DriftCard, ThresholdForm } from "./DriftPanel";
import { chartRows, hasLonePoints, mixOverTime, mixRows } from "./figures";
import { WINDOWS, useMonitoring, type Monitoring, type MonitoringWindow } from "./hooks";

const LABEL_COLORS = ["crust.7", "blue.5", "teal.6", "grape.5", "orange.5", "cyan.6", "pink.5", "lime.6"];

function Stat({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <Card padding="sm" data-testid={testId}>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text fw={700} size="lg">
        {value}
      </Text>
    </Card>
  );
}

function Totals({ data }: { data: Monitoring }) {
  const t = data.totals;
  return (
    <SimpleGrid cols={{ base: 2, sm: 4, lg: 7 }} spacing="sm" data-testid="monitoring-totals">
      <Stat label="Predictions" value={formatNumber(t.requests)} testId="monitoring-requests" />
      <Stat label="Per minute" value={t.requests_per_minute.toFixed(2)} />
      <Stat label="Latency p50 / p95 / p99" value={`${formatLatency(t.latency_ms.p50)} / ${formatLatency(t.latency_ms.p95)} / ${formatLatency(t.latency_ms.p99)}`} />
      <Stat label="Error rate" value={`${formatPercent(t.error_rate)} (${t.failed_requests})`} />
      <Stat label="Uncertain" value={formatPercent(t.uncertain_rate)} />
      <Stat label="Out of distribution" value={formatPercent(t.ood_rate)} />
      <Stat label="Label mix" value={Object.keys(data.label_mix).length ? `${Object.keys(data.label_mix).length} labels` : "–"} />
    </SimpleGrid>
  );
}

function Charts({ data, window }: { data: Monitoring; window: MonitoringWindow }) {
  const rows = chartRows(data.buckets, window);
  const mix = mixRows(data.label_mix, data.training_mix);
  const overTime = mixOverTime(data.buckets, window);
  const labels = mix.map((row) => row.label);
  // Dots where a bucket with predictions stands between empty ones, or its line is invisible.
  const latencyDots = hasLonePoints(rows, ["p50", "p95", "p99"]);
  const rateDots = hasLonePoints(rows, ["errors", "uncertain", "ood"]);
  return (
    <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
      <Card>
        <Text fw={600} size="sm" mb="xs">
          Requests per minute
        </Text>
        <LineChart h={180} data={rows} dataKey="time" series={[{ name: "rpm", label: "Requests / min", color: "crust.7" }]} withDots={false} />
      </Card>
      <Card>
        <Text fw={600} size="sm" mb="xs">
          Latency (ms)
        </Text>
        <LineChart
          h={180}
          data={rows}
          dataKey="time"
          connectNulls={false}
          withDots={latencyDots}
          dotProps={{ r: 3, strokeWidth: 1 }}
          withLegend
          series={[
            { name: "p50", label: "p50", color: "teal.6" },
            { name: "p95", label: "p95", color: "orange.5" },
            { name: "p99", label: "p99", color: "red.6" },
          ]}
        />
      </Card>
      <Card>
        <Text fw={600} size="sm" mb="xs">
          Error, uncertain and out-of-distribution rates (%)
        </Text>
        <LineChart
          h={180}
          data={rows}
          dataKey="time"
          connectNulls={false}
          withDots={rateDots}
          dotProps={{ r: 3, strokeWidth: 1 }}
          withLegend
          unit="%"
          series={[
            { name: "errors", label: "Errors", color: "red.6" },
            { name: "uncertain", label: "Uncertain", color: "yellow.6" },
            { name: "ood", label: "Out of distribution", color: "grape.6" },
          ]}
        />
      </Card>
      <Card>
        <Text fw={600} size="sm" mb="xs">
          Predicted labels against the training mix (%)
        </Text>
        {mix.length === 0 ? (
          <Text size="sm" c="dimmed">
            No predictions in this window.
          </Text>
        ) : (
          <BarChart
            h={180}
            data={mix}
            dataKey="label"
            withLegend
            unit="%"
            series={[
              { name: "live", label: "Predicted", color: "crust.7" },
              { name: "training", label: "Training", color: "gray.5" },
            ]}
          />
        )}
      </Card>
      {overTime.length > 1 && (
        <Card style={{ gridColumn: "1 / -1" }}>
          <Text fw={600} size="sm" mb="xs">
            Predicted labels over time (%)
          </Text>
          <AreaChart
            h={180}
            data={overTime}
            dataKey="time"
            type="percent"
            withLegend
            series={labels.map((name, k) => ({ name, color: LABEL_COLORS[k % LABEL_COLORS.length] }))}
          />
        </Card>
      )}
    </SimpleGrid>
  );
}

export default function MonitoringPage() {
  const { project } = useProjectContext();
  const { slug = "" } = useParams();
  const [window, setWindow] = useState<MonitoringWindow>("24h");
  const figures = useMonitoring(slug, window);
  return (
    <Stack gap="lg" data-testid="monitoring-page">
      <Group justify="space-between" align="flex-end">
        <div>
          <Anchor component={Link} to={`/projects/${project.id}/deploy`} size="sm">
            <Group gap={4}>
              <IconArrowLeft size={14} /> Deploy
            </Group>
          </Anchor>
          <Title order={2} size="h3">
            Monitoring · {slug}
          </Title>
        </div>
        <SegmentedControl
          value={window}
          onChange={(value) => setWindow(value as MonitoringWindow)}
          data={WINDOWS.map((value) => ({ value, label: value }))}
          data-testid="monitoring-window"
        />
      </Group>
      {figures.isPending ? (
        <PageLoader />
      ) : figures.error ? (
        <Alert color="red">{(figures.error as Error).message}</Alert>
      ) : (
        <>
          {figures.data.sampled && (
            <Alert color="yellow" variant="light">
              This window holds more predictions than are read at once; the figures are of the latest 50,000.
            </Alert>
          )}
          <DriftCard slug={slug} drift={figures.data.drift} />
          <Totals data={figures.data} />
          <Charts data={figures.data} window={window} />
        </>
      )}
      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
        <AlertList slug={slug} />
        <ThresholdForm slug={slug} />
      </SimpleGrid>
    </Stack>
  );
}
