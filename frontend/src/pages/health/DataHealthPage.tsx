import { Alert, Badge, Button, Card, Group, Loader, Stack, Tabs, Text, Title } from "@mantine/core";
import { IconAlertTriangle, IconChartLine, IconListCheck, IconMap, IconRefresh, IconStethoscope, IconTable, IconTags } from "@tabler/icons-react";
import { useSearchParams } from "react-router";
import { useDataHealth, useDataHealthRecompute, type HealthReport } from "../../api/hooks";
import { EmptyState, ErrorState, PageLoader } from "../../components/States";
import { formatNumber, formatPercent, formatRelative, plural } from "../../lib/format";
import { useProjectContext } from "../project/context";
import { ConfusionPanel } from "./ConfusionPanel";
import { FixQueue } from "./FixQueue";
import { InsightsPanel } from "./InsightsPanel";
import { LabelNext } from "./LabelNext";
import { MapPanel } from "./MapPanel";
import { buildFixQueue } from "./queue";

/** Cross-validated accuracy, its 95 % interval and how many images it rests on. */
function Summary({ report, onCheck, checking }: { report: HealthReport; onCheck: () => void; checking: boolean }) {
  const cv = report.cv_accuracy;
  const computing = report.status === "computing";
  return (
    <Card withBorder padding="md" data-testid="health-summary">
      <Group justify="space-between" align="flex-start" wrap="nowrap">
        <Stack gap={4}>
          {cv ? (
            <>
              <Group gap="xs" align="baseline">
                <Title order={2} size="h3" data-testid="health-cv-accuracy">
                  {formatPercent(cv.value)}
                </Title>
                <Text size="sm" c="dimmed">
                  cross-validated accuracy
                </Text>
              </Group>
              <Text size="sm" data-testid="health-cv-interval">
                95 % interval {formatPercent(cv.low)} – {formatPercent(cv.high)}, measured on {plural(cv.images, "labelled image")}{" "}
                each predicted by a model that never saw it.
              </Text>
            </>
          ) : (
            <Text size="sm">No accuracy yet: it is measured when the data is checked after training.</Text>
          )}
          <Text size="xs" c="dimmed">
            {report.model_version_number !== null ? `Model v${report.model_version_number} · ` : ""}
            {report.computed_at ? `checked ${formatRelative(report.computed_at)}` : "not checked yet"}
          </Text>
        </Stack>
        <Group gap="xs" wrap="nowrap">
          {computing && (
            <Badge color="blue" variant="light" leftSection={<Loader size={10} />} data-testid="health-computing">
              Checking…
            </Badge>
          )}
          <Button
            variant="light"
            leftSection={<IconRefresh size={16} />}
            onClick={onCheck}
            loading={checking}
            disabled={computing}
            data-testid="health-check"
          >
            Check again
          </Button>
        </Group>
      </Group>
    </Card>
  );
}

const VIEWS = ["fix", "label-next", "map", "confusion", "insights"] as const;
type View = (typeof VIEWS)[number];

/** Before the first report: what the check does, and the button that starts it. */
function NotChecked({ computing, onCheck, checking }: { computing: boolean; onCheck: () => void; checking: boolean }) {
  return (
    <EmptyState
      icon={computing ? <Loader size={28} /> : <IconStethoscope size={32} />}
      title={computing ? "Checking your data…" : "Check your data"}
      testId="health-none"
      action={
        computing ? undefined : (
          <Button onClick={onCheck} loading={checking} data-testid="health-check-first">
            Check my data
          </Button>
        )
      }
    >
      {computing
        ? "Every labelled image is predicted by a model that never saw it, then compared with its label and its neighbours. This takes seconds; the page updates by itself."
        : "Bakehouse looks for labels that are probably wrong, near-duplicate images (above all across train and test) and images that belong to no class. It runs after every training; you need a trained model first. The map works before any model."}
    </EmptyState>
  );
}

/** Data health: what is probably wrong with the data, fixed one key at a time. */
export default function DataHealthPage() {
  const { project } = useProjectContext();
  const report = useDataHealth(project.id);
  const recompute = useDataHealthRecompute(project.id);
  const [params, setParams] = useSearchParams();
  const asked = params.get("view") as View | null;
  const view: View = asked && VIEWS.includes(asked) ? asked : "fix";

  if (report.isPending) return <PageLoader />;
  if (report.isError) return <ErrorState error={report.error} onRetry={() => report.refetch()} />;
  const data = report.data;
  const checked = data.status !== "none" && !(data.status === "computing" && !data.computed_at);
  const queueSize = checked ? buildFixQueue(data).length : 0;

  return (
    <Stack gap="md" data-testid="health-page">
      {checked && <Summary report={data} onCheck={() => recompute.mutate()} checking={recompute.isPending} />}
      {data.status === "failed" && (
        <Alert color="red" variant="light" icon={<IconAlertTriangle size={18} />} title="The last check failed" data-testid="health-failed">
          {data.error || "The check could not finish."} {data.computed_at ? "The previous report is shown." : ""}
        </Alert>
      )}
      <Tabs value={view} onChange={(value) => setParams(value && value !== "fix" ? { view: value } : {}, { replace: true })} keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="fix" leftSection={<IconListCheck size={16} />} data-testid="health-tab-fix">
            Fix queue{" "}
            {checked && (
              <Badge size="xs" variant="light" ml={4}>
                {formatNumber(queueSize)}
              </Badge>
            )}
          </Tabs.Tab>
          <Tabs.Tab value="label-next" leftSection={<IconTags size={16} />} data-testid="health-tab-label-next">
            Label next
          </Tabs.Tab>
          <Tabs.Tab value="map" leftSection={<IconMap size={16} />} data-testid="health-tab-map">
            Map
          </Tabs.Tab>
          <Tabs.Tab value="confusion" leftSection={<IconTable size={16} />} data-testid="health-tab-confusion">
            Confusion
          </Tabs.Tab>
          <Tabs.Tab value="insights" leftSection={<IconChartLine size={16} />} data-testid="health-tab-insights">
            Learning curve & slices
          </Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="fix" pt="md">
          {checked ? (
            <FixQueue projectId={project.id} report={data} />
          ) : (
            <NotChecked computing={data.status === "computing"} onCheck={() => recompute.mutate()} checking={recompute.isPending} />
          )}
        </Tabs.Panel>
        <Tabs.Panel value="label-next" pt="md">
          <LabelNext projectId={project.id} />
        </Tabs.Panel>
        <Tabs.Panel value="map" pt="md">
          <MapPanel projectId={project.id} />
        </Tabs.Panel>
        <Tabs.Panel value="confusion" pt="md">
          <ConfusionPanel projectId={project.id} />
        </Tabs.Panel>
        <Tabs.Panel value="insights" pt="md">
          <InsightsPanel projectId={project.id} />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
