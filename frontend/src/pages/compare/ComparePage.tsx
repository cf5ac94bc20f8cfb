import { Alert, Badge, Button, Card, Grid, Group, Select, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { IconArrowsLeftRight, IconChartBar } from "@tabler/icons-react";
import { Link, useSearchParams } from "react-router";
import { useModelCompare, useModelDataDiff, useModels } from "../../api/hooks";
import type { DataDiff, ModelCompare, ModelVersion } from "../../api/types";
import { EmptyState, ErrorState, PageLoader } from "../../components/States";
import { formatNumber, formatPercent, modeName } from "../../lib/format";
import { useProjectContext } from "../project/context";
import { ImageGallery, SmallConfusion } from "./CompareParts";
import { defaultPair, formatDelta, mcnemarWords, recallChange, withInterval } from "./compare";

const CHANGE_COLOR = { better: "teal", worse: "red", unclear: "gray" } as const;

function versionOptions(models: ModelVersion[]) {
  return models.map((m) => ({
    value: String(m.id),
    label: `v${m.number} · ${modeName(m.mode)} · accuracy ${formatPercent(m.metrics.accuracy)}`,
  }));
}

function Side({ name, side, testId }: { name: string; side: ModelCompare["a"]; testId: string }) {
  return (
    <Card data-testid={testId}>
      <Text size="sm" c="dimmed">
        {name}: v{side.number} ({modeName(side.mode)})
      </Text>
      <Text fw={800} size="xl" data-testid={`${testId}-accuracy`} data-value={side.accuracy}>
        {withInterval(side.accuracy, side.accuracy_low, side.accuracy_high)}
      </Text>
      <Text size="sm">
        accuracy · macro F1 <b data-testid={`${testId}-f1`}>{formatPercent(side.macro_f1)}</b> ·{" "}
        {formatNumber(side.correct)} right
      </Text>
    </Card>
  );
}

function PerLabel({ rows }: { rows: ModelCompare["per_label"] }) {
  return (
    <Card data-testid="compare-per-label">
      <Text fw={600}>Recall per label</Text>
      <Text size="xs" c="dimmed" mb="sm">
        The share of each label's test images each version got right, and B − A with its 95 % interval: a change is
        only clear when the interval leaves out 0.
      </Text>
      <Table verticalSpacing="xs">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Label</Table.Th>
            <Table.Th>Images</Table.Th>
            <Table.Th>A</Table.Th>
            <Table.Th>B</Table.Th>
            <Table.Th>B − A (95 % interval)</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((row) => {
            const change = recallChange(row);
            return (
              <Table.Tr key={row.label} data-testid="compare-label-row" data-label={row.label} data-change={change}>
                <Table.Td fw={500}>{row.label}</Table.Td>
                <Table.Td>{formatNumber(row.images)}</Table.Td>
                <Table.Td>{formatPercent(row.a_recall)}</Table.Td>
                <Table.Td>{formatPercent(row.b_recall)}</Table.Td>
                <Table.Td>
                  <Group gap={6}>
                    <Badge color={CHANGE_COLOR[change]} variant="light">
                      {formatDelta(row.delta)}
                    </Badge>
                    <Text size="xs" c="dimmed">
                      {formatDelta(row.low)} to {formatDelta(row.high)}
                    </Text>
                  </Group>
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Card>
  );
}

function DataChanges({ diff }: { diff: DataDiff }) {
  const counts = diff.counts;
  return (
    <Card data-testid="compare-data-diff" data-same={diff.same_data}>
      <Group justify="space-between">
        <Text fw={600}>What changed in the data and the training</Text>
        <Badge variant="light" color={diff.same_data ? "teal" : "blue"} title={`A ${diff.a.data_hash} · B ${diff.b.data_hash}`}>
          {diff.same_data ? "Same data" : `Data ${diff.a.data_hash.slice(0, 8)} → ${diff.b.data_hash.slice(0, 8)}`}
        </Badge>
      </Group>
      <SimpleGrid cols={{ base: 2, sm: 4 }} mt="sm">
        {(["added", "removed", "relabelled", "moved"] as const).map((kind) => (
          <div key={kind} data-testid={`data-diff-${kind}`} data-count={counts[kind]}>
            <Text fw={700} size="lg">
              {formatNumber(counts[kind])}
            </Text>
            <Text size="xs" c="dimmed">
              {kind === "moved" ? "moved between splits" : `${counts[kind] === 1 ? "image" : "images"} ${kind}`}
            </Text>
          </div>
        ))}
      </SimpleGrid>
      {diff.parameters.length > 0 ? (
        <Table mt="sm" verticalSpacing={4} fz="sm" data-testid="data-diff-parameters">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Parameter</Table.Th>
              <Table.Th>A</Table.Th>
              <Table.Th>B</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {diff.parameters.map((p) => (
              <Table.Tr key={p.name}>
                <Table.Td className="mono">{p.name}</Table.Td>
                <Table.Td>{JSON.stringify(p.a ?? null)}</Table.Td>
                <Table.Td>{JSON.stringify(p.b ?? null)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      ) : (
        <Text size="sm" mt="sm" c="dimmed">
          Both were trained with the same parameters.
        </Text>
      )}
      {!diff.parameters_recorded && (
        <Text size="xs" c="dimmed" mt={4}>
          One version was trained before parameters were recorded: only its mode and backbone are compared.
        </Text>
      )}
    </Card>
  );
}

function Result({ projectId, result }: { projectId: number; result: ModelCompare }) {
  return (
    <Stack gap="lg" data-testid="compare-result" data-images={result.images}>
      <Text size="sm">
        On the <b>{formatNumber(result.images)}</b> test {result.images === 1 ? "image" : "images"} both versions were tested on
        {result.relabelled_excluded > 0 ? ` (${result.relabelled_excluded} relabelled in between left out)` : ""}.
      </Text>
      <SimpleGrid cols={{ base: 1, sm: 2 }}>
        <Side name="A" side={result.a} testId="compare-a" />
        <Side name="B" side={result.b} testId="compare-b" />
      </SimpleGrid>
      <Alert variant="light" color={result.mcnemar_p < 0.05 ? "teal" : "gray"} data-testid="compare-mcnemar" data-p={result.mcnemar_p}>
        {mcnemarWords(result.mcnemar_p, result.fixed.length, result.broken.length)} (McNemar's exact test)
      </Alert>
      <PerLabel rows={result.per_label} />
      <Grid gutter="lg">
        <Grid.Col span={{ base: 12, md: 6 }}>
          <SmallConfusion title={`A: v${result.a.number}`} labels={result.labels} matrix={result.a.confusion_matrix} testId="compare-confusion-a" />
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 6 }}>
          <SmallConfusion title={`B: v${result.b.number}`} labels={result.labels} matrix={result.b.confusion_matrix} testId="compare-confusion-b" />
        </Grid.Col>
      </Grid>
      <ImageGallery
        projectId={projectId}
        ids={result.fixed}
        title="Fixed by B"
        description={`A (v${result.a.number}) got these wrong, B (v${result.b.number}) right.`}
        color="teal"
        testId="compare-fixed"
      />
      <ImageGallery
        projectId={projectId}
        ids={result.broken}
        title="Broken by B"
        description={`A (v${result.a.number}) got these right, B (v${result.b.number}) wrong.`}
        color="red"
        testId="compare-broken"
      />
    </Stack>
  );
}

export default function ComparePage() {
  const { project } = useProjectContext();
  const [params, setParams] = useSearchParams();
  const models = useModels(project.id);
  const asId = (value: string | null) => (value && /^\d+$/.test(value) ? Number(value) : null);
  const { a, b } = defaultPair(models.data ?? [], asId(params.get("a")), asId(params.get("b")));
  const compare = useModelCompare(a, b);
  const diff = useModelDataDiff(a, b);

  if (models.isPending) return <PageLoader />;
  if (models.isError) return <ErrorState error={models.error} onRetry={() => models.refetch()} />;
  if (models.data.length < 2 || a === null || b === null) {
    return (
      <Card>
        <EmptyState
          icon={<IconChartBar size={32} />}
          title="Nothing to compare yet"
          testId="compare-empty"
          action={
            <Button component={Link} to={`/projects/${project.id}/train`}>
              Go to Train
            </Button>
          }
        >
          Comparing needs two model versions. Train again after changing the data or the mode.
        </EmptyState>
      </Card>
    );
  }

  const pick = (which: "a" | "b", value: string | null) => {
    if (!value) return;
    setParams((prev) => {
      const next = new URLSearchParams(prev);
      next.set("a", String(a));
      next.set("b", String(b));
      next.set(which, value);
      return next;
    });
  };
  const options = versionOptions(models.data);

  return (
    <Stack gap="lg" data-testid="compare-page">
      <Card>
        <Stack gap="sm">
          <div>
            <Title order={2} size="h4">
              Compare two versions
            </Title>
            <Text size="sm" c="dimmed">
              Both versions' answers on the test images they share, and what changed in between. Images keep their split,
              so two versions are scored on the same test images.
            </Text>
          </div>
          <Group align="flex-end" gap="sm">
            <Select label="A (before)" data={options} value={String(a)} onChange={(v) => pick("a", v)} allowDeselect={false} w={320} data-testid="compare-a-select" />
            <Button
              variant="subtle"
              aria-label="Swap A and B"
              onClick={() => setParams({ a: String(b), b: String(a) })}
              data-testid="compare-swap"
            >
              <IconArrowsLeftRight size={18} />
            </Button>
            <Select label="B (after)" data={options} value={String(b)} onChange={(v) => pick("b", v)} allowDeselect={false} w={320} data-testid="compare-b-select" />
            <Button variant="light" component={Link} to={`/projects/${project.id}/deploy?version=${b}`}>
              Deploy B
            </Button>
          </Group>
        </Stack>
      </Card>
      {a === b ? (
        <Alert color="yellow" variant="light" data-testid="compare-error">
          Pick two different versions.
        </Alert>
      ) : (
        <>
          {diff.data && <DataChanges diff={diff.data} />}
          {compare.isPending ? (
            <PageLoader label="Comparing…" />
          ) : compare.isError ? (
            <Alert color="yellow" variant="light" title="These versions cannot be compared image by image" data-testid="compare-error">
              {compare.error.message}
            </Alert>
          ) : (
            <Result projectId={project.id} result={compare.data} />
          )}
        </>
      )}
    </Stack>
  );
}
