import "@mantine/charts/styles.css";
import { LineChart } from "@mantine/charts";
import {
  Alert,
  Badge,
  Button,
  Card,
  Code,
  Grid,
  Group,
  Progress,
  SegmentedControl,
  Stack,
  Table,
  Text,
  ThemeIcon,
  Title,
} from "@mantine/core";
import {
  IconAlertTriangle,
  IconBolt,
  IconBrain,
  IconCircleCheck,
  IconPlayerPlay,
  IconPlayerStop,
  IconSparkles,
  IconTarget,
} from "@tabler/icons-react";
import { useEffect, useMemo, useRef } from "react";
import { Link, useSearchParams } from "react-router";
import { errorMessage } from "../../api/client";
import {
  useModel,
  useStats,
  useTrainingCancel,
  useTrainingFinished,
  useTrainingJob,
  useTrainingJobs,
  useTrainingStart,
} from "../../api/hooks";
import type { TrainingJob, TrainingMode } from "../../api/types";
import { EmptyState, ErrorState, PageLoader } from "../../components/States";
import {
  formatDateTime,
  formatDuration,
  formatLoss,
  formatPercent,
  isActive,
  metricName,
  modeTitle,
  plural,
  stageLabel,
  statusColor,
  statusLabel,
} from "../../lib/format";
import { type ModeRecord, historySeries, modeRecord } from "../../lib/training";
import { FinetuneOutcomeNotice } from "../model/FinetuneOutcome";
import { IntervalNote, TooFewImages, VERDICT_COLOR, targetVerdict } from "../model/scores";
import { useProjectContext } from "../project/context";

function elapsedSeconds(job: TrainingJob, now = Date.now()): number | null {
  const start = job.started_at ?? job.created_at;
  if (!start) return null;
  const end = job.finished_at ? new Date(job.finished_at).getTime() : now;
  return Math.max(0, (end - new Date(start).getTime()) / 1000);
}

function Curves({ job }: { job: TrainingJob }) {
  const { points, hasLoss, accuracySeries, xLabel } = useMemo(() => historySeries(job.metrics?.history), [job.metrics]);
  if (!points.length) {
    return (
      <Text size="sm" c="dimmed" ta="center" py="xl">
        {isActive(job.status)
          ? "The curves appear here after the first round of training."
          : "This job recorded no training curve."}
      </Text>
    );
  }
  return (
    <Grid gutter="lg" data-testid="training-curves">
      {hasLoss && (
        <Grid.Col span={{ base: 12, md: 6 }}>
          <Text size="sm" fw={600} mb={4}>
            Loss (lower is better)
          </Text>
          <LineChart
            h={220}
            data={points}
            dataKey="x"
            series={[
              { name: "loss", label: "Training loss", color: "crust.6" },
              ...(points.some((p) => p.val_loss !== undefined)
                ? [{ name: "val_loss", label: "Validation loss", color: "blue.6" }]
                : []),
            ]}
            curveType="monotone"
            withDots={points.length < 30}
            xAxisLabel={xLabel}
            valueFormatter={formatLoss}
            withLegend
          />
        </Grid.Col>
      )}
      {accuracySeries.length > 0 && (
        <Grid.Col span={{ base: 12, md: hasLoss ? 6 : 12 }}>
          <Text size="sm" fw={600} mb={4}>
            Accuracy (higher is better)
          </Text>
          <LineChart
            h={220}
            data={points}
            dataKey="x"
            series={accuracySeries}
            curveType="monotone"
            withDots={points.length < 30}
            xAxisLabel={xLabel}
            yAxisProps={{ domain: [0, 1] }}
            valueFormatter={(v) => formatPercent(v)}
            withLegend
          />
        </Grid.Col>
      )}
    </Grid>
  );
}

function JobResult({ job, projectId, target, metric }: { job: TrainingJob; projectId: number; target: number; metric: string }) {
  const model = useModel(job.model_version);
  const metrics = model.data?.metrics;
  const value = metric === "macro_f1" ? metrics?.macro_f1 : metrics?.accuracy;
  const verdict = metrics ? targetVerdict(metrics, metric, target) : null;
  return (
    <Alert
      color={verdict ? VERDICT_COLOR[verdict] : "yellow"}
      variant="light"
      icon={<IconCircleCheck size={20} />}
      title={model.data ? `Model v${model.data.number} is ready` : "The model is ready"}
      data-testid="training-succeeded"
    >
      <Stack gap="xs">
        {typeof value === "number" && (
          <Text size="sm">
            {metricName(metric)} on images it never saw: <b>{formatPercent(value)}</b> (target {formatPercent(target, 0)}).{" "}
            {verdict === "meets"
              ? "It meets your target."
              : verdict === "may_meet"
                ? "It may meet your target: the score clears it, but with this many test images the true accuracy could be below it."
                : "Below your target: label more images, fix wrong labels in the Model tab, or try fine-tuning."}
          </Text>
        )}
        {metrics && <IntervalNote interval={metrics.accuracy_interval} testId="training-accuracy-interval" />}
        {metrics && <FinetuneOutcomeNotice metrics={metrics} />}
        {metrics && <TooFewImages interval={metrics.accuracy_interval} />}
        <Group gap="xs">
          <Button
            size="xs"
            component={Link}
            to={`/projects/${projectId}/model${job.model_version ? `?version=${job.model_version}` : ""}`}
          >
            See the model
          </Button>
          <Button size="xs" variant="light" component={Link} to={`/projects/${projectId}/deploy`}>
            Deploy it
          </Button>
        </Group>
      </Stack>
    </Alert>
  );
}

function JobPanel({ jobId, projectId, target, metric }: { jobId: number; projectId: number; target: number; metric: string }) {
  const job = useTrainingJob(jobId);
  const cancel = useTrainingCancel(jobId);
  const finished = useTrainingFinished(projectId);
  const previousStatus = useRef<string | undefined>(undefined);
  const status = job.data?.status;

  // When a run ends, the lists that show its result (versions, project accuracy) are stale.
  useEffect(() => {
    if (previousStatus.current && isActive(previousStatus.current) && status && !isActive(status)) {
      finished();
    }
    previousStatus.current = status;
  }, [status, finished]);

  if (job.isPending) return <PageLoader />;
  if (job.isError) return <ErrorState error={job.error} onRetry={() => job.refetch()} />;
  const j = job.data;
  const active = isActive(j.status);
  const seconds = elapsedSeconds(j);
  const percent = Math.round((j.status === "succeeded" ? 1 : j.progress) * 100);

  return (
    <Card data-testid="training-job" data-status={j.status}>
      <Stack gap="md">
        <Group justify="space-between">
          <Group gap="sm">
            <Title order={3} size="h4">
              Training run #{j.number}
            </Title>
            <Badge color={statusColor(j.status)} variant="light" data-testid="training-status">
              {statusLabel(j.status)}
            </Badge>
            <Badge color="gray" variant="outline">
              {modeTitle(j.mode)}
            </Badge>
            {typeof j.image_count === "number" && j.image_count > 0 && (
              <Text size="sm" c="dimmed">
                {plural(j.image_count, "image")}
              </Text>
            )}
          </Group>
          <Group gap="sm">
            {seconds !== null && (
              <Text size="sm" c="dimmed">
                {j.status === "queued" ? "Waiting for " : active ? "Running for " : "Took "}
                {formatDuration(seconds)}
              </Text>
            )}
            {active && (
              <Button
                size="xs"
                variant="default"
                color="red"
                leftSection={<IconPlayerStop size={14} />}
                loading={cancel.isPending}
                onClick={() => cancel.mutate()}
                data-testid="cancel-training"
              >
                Stop
              </Button>
            )}
          </Group>
        </Group>
        {(active || j.status === "succeeded") && (
          <Stack gap={6}>
            <Group justify="space-between">
              <Text size="sm" fw={500} data-testid="training-stage">
                {j.status === "queued" ? "Waiting for a worker to start…" : j.status === "succeeded" ? "Done" : stageLabel(j.stage)}
              </Text>
              <Group gap="xs">
                {active && typeof j.metrics?.eta_seconds === "number" && (
                  <Text size="sm" c="dimmed" data-testid="training-eta">
                    about {formatDuration(j.metrics.eta_seconds)} left
                    {j.stage === "training" && j.mode === "finetune" ? " at most (stops early when validation stops improving)" : ""}
                  </Text>
                )}
                <Text size="sm" fw={600}>
                  {percent}%
                </Text>
              </Group>
            </Group>
            <Progress
              value={percent}
              size="lg"
              striped={active}
              animated={active}
              color={j.status === "succeeded" ? "teal" : undefined}
              data-testid="training-progress"
              aria-label="Training progress"
            />
          </Stack>
        )}
        {j.status === "failed" && (
          <Alert color="red" variant="light" icon={<IconAlertTriangle size={20} />} title="Training failed" data-testid="training-error">
            <Text size="sm">{j.error || "The training stopped without saying why. Try again; if it keeps failing, check the worker."}</Text>
            {j.log && (
              <details style={{ marginTop: 8 }}>
                <summary style={{ cursor: "pointer", fontSize: 13 }}>Technical details (for whoever runs this Bakehouse)</summary>
                <Code block mt={6} style={{ maxHeight: 240, overflow: "auto", fontSize: 12 }} data-testid="training-log">
                  {j.log}
                </Code>
              </details>
            )}
          </Alert>
        )}
        {j.status === "cancelled" && (
          <Alert color="yellow" variant="light" title="Stopped">
            This run was stopped before it finished. No model was made.
          </Alert>
        )}
        {j.status === "succeeded" && <JobResult job={j} projectId={projectId} target={target} metric={metric} />}
        <Curves job={j} />
      </Stack>
    </Card>
  );
}

const MODE_HELP: Record<string, string> = {
  quick:
    "Fast: reuses a pretrained network (EfficientNet-Lite0) and trains only its last layer, on every labelled image outside the test split. Seconds once the images are analysed.",
  accurate:
    "Accurate: the same, on a larger pretrained network (EfficientNet-Lite2, 260 px). The first run analyses every image again with it, and each image (in training and in every prediction) costs about 1.6 times the CPU. On the ants-and-bees photos it was right 1.3 points more often.",
  finetune:
    "Fine-tune: starts from the accurate model (EfficientNet-Lite2) and adjusts the top of the network itself to your images. Minutes to hours on a CPU (a GPU is used when there is one); it stops early and keeps the accurate model when no epoch beats it on validation, and says why.",
};

function ModeMeasured({ record }: { record: ModeRecord | null }) {
  if (!record) return <>Not run in this project yet.</>;
  const parts = [
    record.accuracy !== null ? `accuracy ${formatPercent(record.accuracy)}` : null,
    record.seconds !== null ? `trained in ${formatDuration(record.seconds)}` : null,
  ].filter(Boolean);
  return <>Last run here: {parts.length ? parts.join(", ") : "finished"}.</>;
}

export default function TrainPage() {
  const { project } = useProjectContext();
  const projectId = project.id;
  const [params, setParams] = useSearchParams();
  const asked = params.get("mode");
  const mode = (asked === "finetune" || asked === "accurate" ? asked : "quick") as TrainingMode;
  const jobs = useTrainingJobs(projectId);
  const stats = useStats(projectId);
  const jobParam = params.get("job");
  const selectedJobId = jobParam && /^\d+$/.test(jobParam) ? Number(jobParam) : jobs.data?.[0]?.id ?? null;
  const running = jobs.data?.find((j) => isActive(j.status));

  const start = useTrainingStart(projectId, {
    inlineError: true,
    onSuccess: (job) => {
      setParams((prev) => {
        const next = new URLSearchParams(prev);
        next.set("job", String(job.id));
        return next;
      });
    },
  });

  const warnings = stats.data?.warnings ?? [];

  return (
    <Stack gap="lg">
      <Card>
        <Grid gutter="xl" align="center">
          <Grid.Col span={{ base: 12, md: 7 }}>
            <Group gap="sm" mb="xs">
              <ThemeIcon size="lg" variant="light">
                <IconBrain size={20} />
              </ThemeIcon>
              <Title order={2} size="h3">
                Train a model
              </Title>
            </Group>
            <Text size="sm" c="dimmed">
              Bakehouse learns from your labeled images and measures the model on images it kept aside. Each run makes a
              new model version; older versions stay available.
            </Text>
            {warnings.length > 0 && (
              <Stack gap={6} mt="sm" data-testid="train-warnings">
                {warnings.map((w, i) => (
                  <Alert key={i} color="yellow" variant="light" p="xs" icon={<IconAlertTriangle size={16} />}>
                    <Text size="sm">{w.message}</Text>
                  </Alert>
                ))}
              </Stack>
            )}
          </Grid.Col>
          <Grid.Col span={{ base: 12, md: 5 }}>
            <Stack gap="sm">
              <SegmentedControl
                fullWidth
                value={mode}
                onChange={(v) =>
                  setParams((prev) => {
                    const next = new URLSearchParams(prev);
                    if (v === "quick") next.delete("mode");
                    else next.set("mode", v);
                    return next;
                  })
                }
                data={[
                  {
                    value: "quick",
                    label: (
                      <Group gap={6} justify="center" wrap="nowrap">
                        <IconBolt size={16} /> Fast
                      </Group>
                    ),
                  },
                  {
                    value: "accurate",
                    label: (
                      <Group gap={6} justify="center" wrap="nowrap">
                        <IconTarget size={16} /> Accurate
                      </Group>
                    ),
                  },
                  {
                    value: "finetune",
                    label: (
                      <Group gap={6} justify="center" wrap="nowrap">
                        <IconSparkles size={16} /> Fine-tune
                      </Group>
                    ),
                  },
                ]}
                data-testid="train-mode"
              />
              <Text size="xs" c="dimmed" mih={34} data-testid="train-mode-help">
                {MODE_HELP[mode]} <ModeMeasured record={modeRecord(jobs.data, mode)} />
              </Text>
              <Button
                size="md"
                leftSection={<IconPlayerPlay size={18} />}
                onClick={() => start.mutate(mode)}
                loading={start.isPending}
                disabled={!!running}
                data-testid="train-button"
              >
                {running ? "Training…" : "Train"}
              </Button>
              {start.isError && (
                <Alert color="red" variant="light" p="xs" data-testid="train-start-error">
                  <Text size="sm">{errorMessage(start.error)}</Text>
                </Alert>
              )}
            </Stack>
          </Grid.Col>
        </Grid>
      </Card>

      {jobs.isPending ? (
        <PageLoader />
      ) : jobs.isError ? (
        <ErrorState error={jobs.error} onRetry={() => jobs.refetch()} />
      ) : selectedJobId === null ? (
        <Card>
          <EmptyState icon={<IconBrain size={32} />} title="No training yet" testId="training-empty">
            Label at least a few images for each label in the Dataset tab, then press Train. Progress and learning curves
            show up here while it runs.
          </EmptyState>
        </Card>
      ) : (
        <JobPanel key={selectedJobId} jobId={selectedJobId} projectId={projectId} target={project.target_value} metric={project.target_metric} />
      )}

      {jobs.data && jobs.data.length > 1 && (
        <Card>
          <Text fw={600} mb="sm">
            Earlier runs
          </Text>
          <Table highlightOnHover data-testid="training-history">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Run</Table.Th>
                <Table.Th>Mode</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>Started</Table.Th>
                <Table.Th>Duration</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {jobs.data.map((job) => (
                <Table.Tr
                  key={job.id}
                  style={{ cursor: "pointer" }}
                  bg={job.id === selectedJobId ? "var(--mantine-color-crust-0)" : undefined}
                  onClick={() =>
                    setParams((prev) => {
                      const next = new URLSearchParams(prev);
                      next.set("job", String(job.id));
                      return next;
                    })
                  }
                >
                  <Table.Td>#{job.number}</Table.Td>
                  <Table.Td>{modeTitle(job.mode)}</Table.Td>
                  <Table.Td>
                    <Badge size="sm" variant="light" color={statusColor(job.status)}>
                      {statusLabel(job.status)}
                    </Badge>
                  </Table.Td>
                  <Table.Td>{formatDateTime(job.started_at ?? job.created_at)}</Table.Td>
                  <Table.Td>{formatDuration(elapsedSeconds(job))}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Card>
      )}
    </Stack>
  );
}
