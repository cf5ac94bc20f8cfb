import "@mantine/charts/styles.css";
import { LineChart } from "@mantine/charts";
import {
  Alert,
  Badge,
  Button,
  Card,
  Center,
  Grid,
  Group,
  Progress,
  RingProgress,
  ScrollArea,
  SimpleGrid,
  Stack,
  Table,
  Text,
  Title,
  Tooltip,
} from "@mantine/core";
import { IconAlertTriangle, IconChartBar, IconDownload, IconFileZip, IconRocket } from "@tabler/icons-react";
import { Link, useSearchParams } from "react-router";
import { useDeployments, useModel, useModels } from "../../api/hooks";
import type { ModelVersion } from "../../api/types";
import { EmptyState, ErrorState, PageLoader } from "../../components/States";
import { ConfusionTable } from "../../components/ConfusionTable";
import { parseCell } from "../../lib/confusion";
import {
  backboneName,
  evaluatedOnText,
  formatDateTime,
  formatDecimal,
  formatNumber,
  formatPercent,
  metricName,
  modeName,
  modeTitle,
  plural,
} from "../../lib/format";
import { useProjectContext } from "../project/context";
import { Compression } from "./Compression";
import { MisclassifiedGallery } from "./MisclassifiedGallery";
import { FinetuneOutcomeNotice } from "./FinetuneOutcome";
import { IntervalNote, TooFewImages, VERDICT_COLOR, VERDICT_TEXT, intervalText, targetVerdict } from "./scores";

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

function Headline({
  model,
  target,
  metric,
  projectId,
}: {
  model: ModelVersion;
  target: number;
  metric: string;
  projectId: number;
}) {
  const m = model.metrics;
  const main = metric === "macro_f1" ? m.macro_f1 : m.accuracy;
  const verdict = targetVerdict(m, metric, target) ?? "below";
  const met = verdict === "meets";
  const tested = m.count ?? Object.values(m.per_class ?? {}).reduce((a, c) => a + (c.support ?? 0), 0);
  const measured = evaluatedOnText(m.evaluated_on, tested || null);
  // One image more or less right moves the figure by 1/tested: below ~20 it is a rough guide
  // (said by the interval's warning when there is one).
  const rough = tested > 0 && tested < 20 && !m.accuracy_interval?.too_few_images;
  return (
    <Card>
      <Grid align="center">
        <Grid.Col span={{ base: 12, sm: 4 }}>
          <Center>
            <RingProgress
              size={150}
              thickness={14}
              roundCaps
              sections={[{ value: (main ?? 0) * 100, color: VERDICT_COLOR[verdict] }]}
              label={
                <Stack gap={0} align="center">
                  <Text fw={800} size="xl" data-testid="model-accuracy">
                    {formatPercent(main)}
                  </Text>
                  <Text size="xs" c="dimmed">
                    {metricName(metric)}
                  </Text>
                </Stack>
              }
            />
          </Center>
        </Grid.Col>
        <Grid.Col span={{ base: 12, sm: 8 }}>
          <Stack gap="xs">
            <Group gap="xs">
              <Title order={2} size="h3">
                Model v{model.number}
              </Title>
              <Badge variant="light" color={VERDICT_COLOR[verdict]} data-testid="model-verdict" data-verdict={verdict}>
                {VERDICT_TEXT[verdict]} ({formatPercent(target, 0)})
              </Badge>
            </Group>
            <Text size="sm" c="dimmed">
              {capitalised(modeName(model.mode))} · {backboneName(model.backbone)} · trained{" "}
              {formatDateTime(model.created_at)}
              {measured ? ` · ${measured}` : ""}
            </Text>
            <FinetuneOutcomeNotice metrics={m} />
            <TooFewImages interval={m.accuracy_interval} />
            {verdict === "may_meet" && !met && (
              <Text size="sm" c="dimmed" data-testid="model-may-meet">
                The score clears the target, but its 95% interval reaches below it: more test images would tell.
              </Text>
            )}
            {rough && (
              <Alert color="yellow" variant="light" p="xs" icon={<IconAlertTriangle size={16} />} data-testid="model-few-tested">
                <Text size="sm">
                  Measured on only {plural(tested, "image")}, so each one moves the score by{" "}
                  {formatPercent(1 / tested, 0)}. Label more images for a steadier figure.
                </Text>
              </Alert>
            )}
            <SimpleGrid cols={3} mt="xs">
              <div>
                <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
                  Accuracy
                </Text>
                <Text fw={700}>{formatPercent(m.accuracy)}</Text>
                <IntervalNote interval={m.accuracy_interval} testId="model-accuracy-interval" />
                {m.cv_accuracy && m.evaluated_on !== "cross-validation" && (
                  <Tooltip label="Every training image scored by a model trained without it (5-fold cross-validation): more images behind it than the test split.">
                    <Text size="xs" c="dimmed" data-testid="model-cv-accuracy" data-images={m.cv_accuracy.images}>
                      Cross-validated: {formatPercent(m.cv_accuracy.value)} ({formatPercent(m.cv_accuracy.low, 0)}–
                      {formatPercent(m.cv_accuracy.high, 0)}, {plural(m.cv_accuracy.images, "image")})
                    </Text>
                  </Tooltip>
                )}
              </div>
              <div>
                <Tooltip label="The average F1 over labels: low when the model is poor on any one label.">
                  <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
                    Macro F1
                  </Text>
                </Tooltip>
                <Text fw={700}>{formatPercent(m.macro_f1)}</Text>
              </div>
              <div>
                <Tooltip label="Calibration error: how far the model's confidence is from how often it is right. Lower is better.">
                  <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
                    Calibration error
                  </Text>
                </Tooltip>
                <Text fw={700}>{formatDecimal(m.ece, 3)}</Text>
              </div>
            </SimpleGrid>
            <Group mt="xs">
              <Button
                size="xs"
                variant="light"
                leftSection={<IconRocket size={14} />}
                component={Link}
                to={`/projects/${projectId}/deploy?version=${model.id}`}
                data-testid="deploy-this-version"
              >
                Deploy this version
              </Button>
              {model.downloads?.onnx && (
                <Tooltip label="The model as an ONNX file, to run it outside Bakehouse (input: 224×224 RGB, normalised).">
                  <Button
                    size="xs"
                    variant="default"
                    leftSection={<IconDownload size={14} />}
                    component="a"
                    href={model.downloads.onnx}
                    data-testid="download-onnx"
                  >
                    Download ONNX
                  </Button>
                </Tooltip>
              )}
              {model.downloads?.bundle && (
                <Tooltip
                  label={`A zip to run the model anywhere: the ${model.downloads.int8 ? "fp32 and int8 ONNX files" : "ONNX file"}, labels, the preprocessing, predict.py (onnxruntime + Pillow) and test images with the answers it must give.${model.downloads.int8 ? "" : " The int8 copy is not made yet: download again once it is, to have it in the zip too."}`}
                >
                  <Button
                    size="xs"
                    variant="default"
                    leftSection={<IconFileZip size={14} />}
                    component="a"
                    href={model.downloads.bundle}
                    data-testid="download-bundle"
                  >
                    Download bundle
                  </Button>
                </Tooltip>
              )}
            </Group>
          </Stack>
        </Grid.Col>
      </Grid>
    </Card>
  );
}

function PerClass({ model }: { model: ModelVersion }) {
  const perClass = model.metrics.per_class ?? {};
  const names = model.labels.length ? model.labels.filter((l) => perClass[l]) : Object.keys(perClass);
  const bar = (v: number | undefined) => (
    <Group gap={6} wrap="nowrap">
      <Progress value={(v ?? 0) * 100} w={70} size="sm" color={(v ?? 0) >= 0.9 ? "teal" : (v ?? 0) >= 0.7 ? "yellow" : "red"} />
      <Text size="sm" w={52}>
        {formatPercent(v)}
      </Text>
    </Group>
  );
  return (
    <Card data-testid="per-class">
      <Text fw={600} mb="sm">
        Per label
      </Text>
      <ScrollArea>
        <Table verticalSpacing="xs">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Label</Table.Th>
              <Table.Th>
                <Tooltip label="Of the images the model called this label, how many really were.">
                  <span>Precision</span>
                </Tooltip>
              </Table.Th>
              <Table.Th>
                <Tooltip label="Of the images that really are this label, how many the model found.">
                  <span>Recall</span>
                </Tooltip>
              </Table.Th>
              <Table.Th>F1</Table.Th>
              <Table.Th>Test images</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {names.map((name) => {
              const c = perClass[name];
              return (
                <Table.Tr key={name}>
                  <Table.Td fw={500}>{name}</Table.Td>
                  <Table.Td>{bar(c.precision)}</Table.Td>
                  <Table.Td>{bar(c.recall)}</Table.Td>
                  <Table.Td>{bar(c.f1)}</Table.Td>
                  <Table.Td>{formatNumber(c.support)}</Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </ScrollArea>
    </Card>
  );
}

function ConfusionMatrix({
  model,
  active,
  onCell,
}: {
  model: ModelVersion;
  active: { row: number; col: number } | null;
  onCell: (row: number, col: number) => void;
}) {
  const matrix = model.metrics.confusion_matrix ?? [];
  const labels = model.labels;
  if (!matrix.length) return null;
  return (
    <Card data-testid="confusion-matrix">
      <Text fw={600}>Confusion matrix</Text>
      <Text size="xs" c="dimmed" mb="sm">
        Rows: the true label. Columns: what the model said. Click a cell to see those images.
      </Text>
      <ConfusionTable labels={labels} matrix={matrix} cellTestId="confusion-cell" axisTitles active={active} onCell={onCell} />
    </Card>
  );
}

function Versions({
  models,
  selected,
  onSelect,
  metric,
}: {
  models: ModelVersion[];
  selected: number;
  onSelect: (id: number) => void;
  metric: string;
}) {
  const chart = [...models]
    .reverse()
    .map((m) => ({ version: `v${m.number}`, accuracy: m.metrics.accuracy ?? null, macro_f1: m.metrics.macro_f1 ?? null }));
  const best = Math.max(...models.map((m) => (metric === "macro_f1" ? m.metrics.macro_f1 : m.metrics.accuracy) ?? -1));
  return (
    <Card data-testid="model-versions" data-chart-series="macro_f1,accuracy">
      <Text fw={600} mb="sm">
        Versions
      </Text>
      {models.length > 1 && (
        <LineChart
          h={160}
          mb="md"
          data={chart}
          dataKey="version"
          // F1 is drawn first and dashed, accuracy on top and solid: equal values (two labels,
          // balanced data) must not hide the accuracy line under F1's.
          series={[
            { name: "macro_f1", label: "Macro F1", color: "blue.4", strokeDasharray: "6 4" },
            { name: "accuracy", label: "Accuracy", color: "crust.7" },
          ]}
          strokeWidth={2.5}
          withDots
          yAxisProps={{ domain: [0, 1] }}
          valueFormatter={(v) => formatPercent(v)}
          withLegend
          connectNulls
        />
      )}
      <ScrollArea>
        <Table highlightOnHover verticalSpacing="xs">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Version</Table.Th>
              <Table.Th>Mode</Table.Th>
              <Table.Th>Accuracy</Table.Th>
              <Table.Th>Macro F1</Table.Th>
              <Table.Th>Labels</Table.Th>
              <Table.Th>Trained</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {models.map((m) => {
              const value = metric === "macro_f1" ? m.metrics.macro_f1 : m.metrics.accuracy;
              return (
                <Table.Tr
                  key={m.id}
                  onClick={() => onSelect(m.id)}
                  style={{ cursor: "pointer" }}
                  bg={m.id === selected ? "var(--mantine-color-crust-0)" : undefined}
                  data-testid="model-version-row"
                  data-version={m.number}
                >
                  <Table.Td fw={600}>
                    v{m.number}{" "}
                    {value === best && models.length > 1 && (
                      <Badge size="xs" variant="light" color="teal">
                        best
                      </Badge>
                    )}
                  </Table.Td>
                  <Table.Td>{modeTitle(m.mode)}</Table.Td>
                  <Table.Td>
                    <Tooltip label={intervalText(m.metrics.accuracy_interval) || "No interval recorded"}>
                      <span data-testid="version-accuracy">
                        {formatPercent(m.metrics.accuracy)}
                        {m.metrics.accuracy_interval && (
                          <Text span size="xs" c="dimmed">
                            {" "}
                            ({formatPercent(m.metrics.accuracy_interval.low, 0)}–{formatPercent(m.metrics.accuracy_interval.high, 0)},{" "}
                            {m.metrics.accuracy_interval.images} img)
                          </Text>
                        )}
                      </span>
                    </Tooltip>
                    {m.metrics.kept_probe && (
                      <Badge size="xs" variant="light" color="blue" ml={4}>
                        kept frozen model
                      </Badge>
                    )}
                  </Table.Td>
                  <Table.Td>{formatPercent(m.metrics.macro_f1)}</Table.Td>
                  <Table.Td>{m.labels.length}</Table.Td>
                  <Table.Td>{formatDateTime(m.created_at)}</Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </ScrollArea>
    </Card>
  );
}

export default function ModelPage() {
  const { project } = useProjectContext();
  const [params, setParams] = useSearchParams();
  const models = useModels(project.id);
  const deployments = useDeployments(project.id);
  const versionParam = params.get("version");
  // Without ?version= the page opens on the version that answers the API (the one people
  // are asking about), and on the newest when nothing is deployed.
  const deployedId = deployments.data?.[0]?.model_version?.id ?? null;
  const deployedListed = deployedId !== null && models.data?.some((x) => x.id === deployedId);
  const selectedId =
    versionParam && /^\d+$/.test(versionParam)
      ? Number(versionParam)
      : deployedListed
        ? deployedId
        : deployments.isPending
          ? null
          : models.data?.[0]?.id ?? null;
  // The list may carry summaries only; the detail has the confusion matrix and mistakes.
  const model = useModel(selectedId);

  if (models.isPending || (!versionParam && deployments.isPending)) return <PageLoader />;
  if (models.isError) return <ErrorState error={models.error} onRetry={() => models.refetch()} />;
  if (!models.data.length || selectedId === null) {
    return (
      <Card>
        <EmptyState
          icon={<IconChartBar size={32} />}
          title="No model yet"
          testId="model-empty"
          action={
            <Button component={Link} to={`/projects/${project.id}/train`}>
              Go to Train
            </Button>
          }
        >
          Train a model and its accuracy, its mistakes and how it confuses your labels appear here.
        </EmptyState>
      </Card>
    );
  }

  const update = (patch: Record<string, string | null>) =>
    setParams((prev) => {
      const next = new URLSearchParams(prev);
      for (const [k, v] of Object.entries(patch)) {
        if (v === null) next.delete(k);
        else next.set(k, v);
      }
      return next;
    });

  const m = model.data;
  const cell = m ? parseCell(params.get("cell"), m.labels) : null;

  return (
    <Stack gap="lg">
      {model.isPending ? (
        <PageLoader />
      ) : model.isError || !m ? (
        <ErrorState error={model.error} onRetry={() => model.refetch()} />
      ) : (
        <>
          <Headline model={m} target={project.target_value} metric={project.target_metric} projectId={project.id} />
          <Compression model={m} />
          <Grid gutter="lg">
            <Grid.Col span={{ base: 12, lg: 6 }}>
              <PerClass model={m} />
            </Grid.Col>
            <Grid.Col span={{ base: 12, lg: 6 }}>
              <ConfusionMatrix
                model={m}
                active={cell}
                onCell={(row, col) =>
                  update({ cell: cell && cell.row === row && cell.col === col ? null : `${row},${col}` })
                }
              />
            </Grid.Col>
          </Grid>
          <MisclassifiedGallery
            projectId={project.id}
            model={m}
            cell={cell}
            onClearCell={() => update({ cell: null })}
          />
        </>
      )}
      {models.data.length > 1 && (
        <Group justify="flex-end" mb={-8}>
          <Button variant="light" component={Link} to={`/projects/${project.id}/compare?b=${selectedId}`} data-testid="compare-versions">
            Compare versions
          </Button>
        </Group>
      )}
      <Versions
        models={models.data}
        selected={selectedId}
        metric={project.target_metric}
        onSelect={(id) => update({ version: String(id), cell: null })}
      />
    </Stack>
  );
}
