import { AspectRatio, Badge, Button, Card, Center, Group, Select, SimpleGrid, Skeleton, Stack, Text } from "@mantine/core";
import { IconCheck, IconMoodHappy, IconPhotoOff } from "@tabler/icons-react";
import { useState } from "react";
import { ApiError } from "../../api/client";
import { useImageRelabel, useImagesById, useLabels } from "../../api/hooks";
import type { ImageItem, Misclassified, ModelVersion } from "../../api/types";
import { misclassifiedIn } from "../../lib/confusion";
import { formatNumber, formatPercent } from "../../lib/format";
import { notifySuccess } from "../../lib/notify";

const PAGE = 24;

function MistakeCard({
  projectId,
  mistake,
  image,
  loading,
  missing,
  labelNames,
}: {
  projectId: number;
  mistake: Misclassified;
  image?: ImageItem;
  loading: boolean;
  missing: boolean;
  labelNames: string[];
}) {
  const [choice, setChoice] = useState<string | null>(null);
  const fix = useImageRelabel(projectId, mistake.id, {
    onSuccess: (updated) => notifySuccess(`Relabeled as “${updated.label}”. Train again to use the fix.`),
  });
  const current = image?.label ?? null;
  const fixed = current !== null && current !== mistake.true;

  return (
    <Card padding="xs" data-testid="misclassified-item" data-image-id={mistake.id}>
      <Card.Section>
        <AspectRatio ratio={1}>
          {loading ? (
            <Skeleton />
          ) : missing || !image ? (
            <Center bg="gray.1">
              <Stack align="center" gap={4}>
                <IconPhotoOff size={28} color="var(--mantine-color-dimmed)" />
                <Text size="xs" c="dimmed">
                  Image deleted
                </Text>
              </Stack>
            </Center>
          ) : (
            <img src={image.thumbnail_url ?? undefined} alt={image.filename} loading="lazy" style={{ objectFit: "cover" }} />
          )}
        </AspectRatio>
      </Card.Section>
      <Stack gap={6} mt="xs">
        <Group gap={4} wrap="nowrap">
          <Text size="xs" c="dimmed" w={62}>
            Labeled
          </Text>
          <Badge size="sm" variant="light" color="gray">
            {mistake.true}
          </Badge>
        </Group>
        <Group gap={4} wrap="nowrap">
          <Text size="xs" c="dimmed" w={62}>
            Model said
          </Text>
          <Badge size="sm" variant="light" color="red">
            {mistake.predicted}
          </Badge>
          <Text size="xs" c="dimmed">
            {formatPercent(mistake.confidence, 0)}
          </Text>
        </Group>
        {image && !missing && (
          <>
            {fixed ? (
              <Badge color="teal" variant="light" leftSection={<IconCheck size={12} />} fullWidth>
                Now “{current}”
              </Badge>
            ) : (
              <Group gap={4} wrap="nowrap">
                <Select
                  size="xs"
                  placeholder="Correct label"
                  aria-label="Correct label"
                  data={labelNames}
                  value={choice ?? mistake.predicted}
                  onChange={setChoice}
                  allowDeselect={false}
                  style={{ flex: 1 }}
                  comboboxProps={{ withinPortal: true }}
                />
                <Button
                  size="xs"
                  variant="light"
                  loading={fix.isPending}
                  onClick={() => fix.mutate(choice ?? mistake.predicted)}
                  data-testid="fix-label"
                >
                  Fix
                </Button>
              </Group>
            )}
          </>
        )}
      </Stack>
    </Card>
  );
}

/** The test images the model got wrong; a wrong label in the data can be fixed right here. */
export function MisclassifiedGallery({
  projectId,
  model,
  cell,
  onClearCell,
}: {
  projectId: number;
  model: ModelVersion;
  cell: { row: number; col: number } | null;
  onClearCell: () => void;
}) {
  const [limit, setLimit] = useState(PAGE);
  const labels = useLabels(projectId);
  const labelNames = (labels.data ?? []).map((l) => l.name);
  const cellRef = cell ? { trueLabel: model.labels[cell.row], predicted: model.labels[cell.col] } : null;
  const all = model.metrics.misclassified ?? [];
  const mistakes = misclassifiedIn(all, cellRef).sort((a, b) => b.confidence - a.confidence);
  const shown = mistakes.slice(0, limit);
  const images = useImagesById(
    projectId,
    shown.map((m) => m.id),
  );

  const diagonal = cell && cell.row === cell.col;
  const diagonalCount = cell ? (model.metrics.confusion_matrix?.[cell.row]?.[cell.col] ?? 0) : 0;

  return (
    <Card data-testid="misclassified-gallery">
      <Group justify="space-between" mb="sm">
        <div>
          <Text fw={600}>
            {cellRef
              ? `“${cellRef.trueLabel}” images the model called “${cellRef.predicted}”`
              : "Images the model got wrong"}
          </Text>
          <Text size="xs" c="dimmed">
            Most confident mistakes first. Often the label in the data is what is wrong: fix it here, then train again.
          </Text>
        </div>
        {cell && (
          <Button size="xs" variant="default" onClick={onClearCell}>
            Show all mistakes
          </Button>
        )}
      </Group>
      {diagonal ? (
        <Text size="sm" c="dimmed" py="md" ta="center">
          {formatNumber(diagonalCount)} “{cellRef?.trueLabel}” test images were predicted correctly.
        </Text>
      ) : mistakes.length === 0 ? (
        <Center py="lg">
          <Group gap="xs">
            <IconMoodHappy size={20} color="var(--mantine-color-teal-6)" />
            <Text size="sm" c="dimmed">
              {cell ? "No images in this cell." : "No mistakes on the test images."}
            </Text>
          </Group>
        </Center>
      ) : (
        <>
          <SimpleGrid cols={{ base: 2, sm: 3, md: 4, lg: 6 }} spacing="sm">
            {shown.map((m, i) => {
              const q = images[i];
              const missing = q?.error instanceof ApiError && q.error.status === 404;
              return (
                <MistakeCard
                  key={m.id}
                  projectId={projectId}
                  mistake={m}
                  image={q?.data}
                  loading={!!q?.isPending}
                  missing={missing || !!q?.isError}
                  labelNames={labelNames}
                />
              );
            })}
          </SimpleGrid>
          {mistakes.length > shown.length && (
            <Center mt="md">
              <Button variant="default" onClick={() => setLimit((l) => l + PAGE)}>
                Show more ({formatNumber(mistakes.length - shown.length)} left)
              </Button>
            </Center>
          )}
        </>
      )}
    </Card>
  );
}
