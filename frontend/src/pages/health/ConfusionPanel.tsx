import { AspectRatio, Badge, Button, Card, Group, SegmentedControl, Select, SimpleGrid, Skeleton, Stack, Table, Text, UnstyledButton } from "@mantine/core";
import { useState } from "react";
import { useConfusion, useDataHealthActions, useImagesById, useLabels, type ConfusionSplit } from "../../api/hooks";
import { ErrorState, PageLoader } from "../../components/States";
import { notifyUndoable } from "../../components/UndoToast";
import { formatPercent, splitLabel } from "../../lib/format";
import { notifyError } from "../../lib/notify";

interface Cell {
  true: string;
  predicted: string;
}

let toastSeq = 0;

/**
 * The confusion matrix of out-of-sample predictions for every split (cross-validation; the
 * quick model's own on the test split); a cell, the diagonal too, opens its images, each
 * relabelled in place.
 */
export function ConfusionPanel({ projectId }: { projectId: number }) {
  const [split, setSplit] = useState<ConfusionSplit>("all");
  const [cell, setCell] = useState<Cell | null>(null);
  const [page, setPage] = useState(1);
  const confusion = useConfusion(projectId, { split, page, true: cell?.true, predicted: cell?.predicted });
  const labels = useLabels(projectId);
  const actions = useDataHealthActions(projectId);
  const [relabelled, setRelabelled] = useState<Record<number, string>>({});
  const results = cell ? (confusion.data?.results ?? []) : [];
  const images = useImagesById(
    projectId,
    results.map((r) => r.image),
  );

  if (confusion.isPending && !confusion.data) return <PageLoader />;
  if (confusion.isError) return <ErrorState error={confusion.error} onRetry={() => confusion.refetch()} />;
  const data = confusion.data;
  if (!data || data.labels.length < 2) {
    return (
      <Text size="sm" c="dimmed">
        The confusion matrix needs at least two labels and a trained model.
      </Text>
    );
  }
  const matrix = data.matrices[split];

  const relabel = async (image: number, from: string, to: string) => {
    try {
      await actions.patch(image, { label: to, source: "user" });
      setRelabelled((old) => ({ ...old, [image]: to }));
      toastSeq += 1;
      notifyUndoable({
        id: `confusion-${toastSeq}`,
        message: `Relabelled “${to}” (was “${from}”).`,
        undo: async () => {
          await actions.patch(image, { label: from, source: "user" });
          setRelabelled((old) => ({ ...old, [image]: from }));
        },
      });
    } catch (error) {
      notifyError(error);
    }
  };

  return (
    <Stack gap="md" data-testid="confusion">
      <Group justify="space-between">
        <SegmentedControl
          value={split}
          onChange={(v) => {
            setSplit(v as ConfusionSplit);
            setPage(1);
          }}
          data={[
            { value: "all", label: "All" },
            { value: "train", label: "Train" },
            { value: "val", label: "Validation" },
            { value: "test", label: "Test" },
          ]}
        />
        <Text size="xs" c="dimmed">
          Rows: the label. Columns: the prediction of a model that never saw the image. Click a cell for its images.
        </Text>
      </Group>
      <Table withTableBorder withColumnBorders w="auto">
        <Table.Thead>
          <Table.Tr>
            <Table.Th />
            {data.labels.map((l) => (
              <Table.Th key={l}>{l}</Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {data.labels.map((trueLabel, i) => (
            <Table.Tr key={trueLabel}>
              <Table.Th>{trueLabel}</Table.Th>
              {data.labels.map((predicted, j) => {
                const active = cell?.true === trueLabel && cell.predicted === predicted;
                const value = matrix?.[i]?.[j] ?? 0;
                return (
                  <Table.Td key={predicted} p={0} bg={active ? "blue.1" : i === j ? "teal.0" : value ? "red.0" : undefined}>
                    <UnstyledButton
                      px="md"
                      py={6}
                      w="100%"
                      onClick={() => {
                        setCell({ true: trueLabel, predicted });
                        setPage(1);
                      }}
                      data-testid="confusion-cell"
                    >
                      {value}
                    </UnstyledButton>
                  </Table.Td>
                );
              })}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {cell && (
        <Stack gap="xs" data-testid="confusion-images">
          <Group justify="space-between">
            <Text fw={500}>
              Labelled “{cell.true}”, predicted “{cell.predicted}” · {data.count} images ({split === "all" ? "every split" : splitLabel(split)})
            </Text>
            <Group gap="xs">
              <Button size="compact-xs" variant="default" disabled={!data.previous} onClick={() => setPage(page - 1)}>
                Previous
              </Button>
              <Button size="compact-xs" variant="default" disabled={!data.next} onClick={() => setPage(page + 1)}>
                Next
              </Button>
            </Group>
          </Group>
          <SimpleGrid cols={{ base: 2, sm: 4, md: 6 }}>
            {results.map((r, i) => {
              const image = images[i]?.data;
              const current = relabelled[r.image] ?? r.label;
              return (
                <Card key={r.image} withBorder padding="xs" data-testid="confusion-image">
                  <Card.Section>
                    <AspectRatio ratio={1}>
                      {image ? <img src={image.thumbnail_url ?? undefined} alt={image.filename} style={{ objectFit: "cover" }} /> : <Skeleton />}
                    </AspectRatio>
                  </Card.Section>
                  <Group gap={4} mt={6} justify="space-between" wrap="nowrap">
                    <Badge size="xs" variant="outline" color="gray">
                      {splitLabel(r.split)}
                    </Badge>
                    <Text size="xs" c="dimmed">
                      {formatPercent(r.confidence, 0)}
                    </Text>
                  </Group>
                  <Select
                    mt={6}
                    size="xs"
                    aria-label="Label"
                    data={(labels.data ?? []).map((l) => l.name)}
                    value={current}
                    allowDeselect={false}
                    onChange={(to) => to && to !== current && void relabel(r.image, current, to)}
                    comboboxProps={{ withinPortal: true }}
                  />
                </Card>
              );
            })}
          </SimpleGrid>
        </Stack>
      )}
    </Stack>
  );
}
