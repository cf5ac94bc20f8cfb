import {
  AspectRatio,
  Badge,
  Button,
  Card,
  Center,
  Group,
  Modal,
  Select,
  SimpleGrid,
  Skeleton,
  Stack,
  Text,
  UnstyledButton,
} from "@mantine/core";
import { IconCheck, IconMoodHappy, IconPhotoOff, IconZoomIn } from "@tabler/icons-react";
import { useState } from "react";
import { ApiError } from "../../api/client";
import { useImageRelabel, useImagesById, useLabels } from "../../api/hooks";
import type { ImageItem, Misclassified, ModelVersion } from "../../api/types";
import { notifyUndoable } from "../../components/UndoToast";
import { misclassifiedIn } from "../../lib/confusion";
import { formatNumber, formatPercent } from "../../lib/format";

const PAGE = 24;

/** The photo at full size, to judge its label. */
function EnlargedImage({ image, mistake, onClose }: { image: ImageItem | null; mistake: Misclassified; onClose: () => void }) {
  return (
    <Modal
      opened={image !== null}
      onClose={onClose}
      size="xl"
      centered
      title={<Text fw={600}>{image?.filename}</Text>}
      data-testid="mistake-enlarged"
    >
      {image && (
        <Stack gap="xs">
          <Center bg="dark.8" style={{ borderRadius: 8, overflow: "hidden" }}>
            <img
              src={image.file_url ?? undefined}
              alt={image.filename}
              style={{ maxWidth: "100%", maxHeight: "70vh", objectFit: "contain", display: "block" }}
              data-testid="mistake-enlarged-image"
            />
          </Center>
          <Text size="sm">
            Labeled <b>{image.label ?? "no label"}</b> in the data; the model said <b>{mistake.predicted}</b> (
            {formatPercent(mistake.confidence, 0)} sure).
          </Text>
        </Stack>
      )}
    </Modal>
  );
}

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
  const current = image?.label ?? null;
  // The picker starts on the label the image has now: changing it is a deliberate act.
  const [other, setOther] = useState<string | null>(null);
  const [kept, setKept] = useState(false);
  const [enlarged, setEnlarged] = useState(false);
  const relabel = useImageRelabel(projectId, mistake.id);
  const changed = current !== null && current !== mistake.true;

  const change = (label: string) => {
    const previous = current;
    if (!previous || label === previous) return;
    relabel.mutate(label, {
      onSuccess: (updated) => {
        setOther(null);
        notifyUndoable({
          id: `relabel-${mistake.id}`,
          message: `“${updated.filename}” relabeled from “${previous}” to “${updated.label}”. Train again to use it.`,
          undo: () => relabel.mutateAsync(previous),
          undoneMessage: `“${updated.filename}” is labeled “${previous}” again.`,
        });
      },
    });
  };

  return (
    <Card padding="xs" data-testid="misclassified-item" data-image-id={mistake.id} data-label={current ?? ""}>
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
            <UnstyledButton
              onClick={() => setEnlarged(true)}
              aria-label={`Enlarge ${image.filename}`}
              data-testid="mistake-enlarge"
              style={{ position: "relative", cursor: "zoom-in" }}
            >
              <img
                src={image.thumbnail_url ?? undefined}
                alt={image.filename}
                loading="lazy"
                style={{ objectFit: "cover", width: "100%", height: "100%" }}
              />
              <IconZoomIn
                size={18}
                color="white"
                style={{ position: "absolute", right: 6, bottom: 6, filter: "drop-shadow(0 0 2px black)" }}
              />
            </UnstyledButton>
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
            {changed ? (
              <Badge color="teal" variant="light" leftSection={<IconCheck size={12} />} fullWidth data-testid="fix-done">
                Now “{current}”
              </Badge>
            ) : kept ? (
              <Badge color="gray" variant="light" leftSection={<IconCheck size={12} />} fullWidth data-testid="fix-kept">
                Label “{current}” kept
              </Badge>
            ) : (
              <Stack gap={4} data-testid="fix-choices">
                <Text size="xs">Check the photo: is the label right?</Text>
                <Group gap={4} grow wrap="nowrap">
                  <Button size="compact-xs" variant="default" onClick={() => setKept(true)} data-testid="fix-keep">
                    Keep “{current}”
                  </Button>
                  {mistake.predicted !== current && (
                    <Button
                      size="compact-xs"
                      variant="light"
                      loading={relabel.isPending}
                      onClick={() => change(mistake.predicted)}
                      data-testid="fix-change"
                    >
                      Change to “{mistake.predicted}”
                    </Button>
                  )}
                </Group>
                {labelNames.length > 1 && (
                  <Group gap={4} wrap="nowrap">
                    <Select
                      size="xs"
                      aria-label="Other label"
                      data={labelNames}
                      value={other ?? current}
                      onChange={setOther}
                      allowDeselect={false}
                      style={{ flex: 1 }}
                      comboboxProps={{ withinPortal: true }}
                      data-testid="fix-other"
                    />
                    <Button
                      size="compact-xs"
                      variant="default"
                      disabled={!other || other === current}
                      onClick={() => other && change(other)}
                      data-testid="fix-other-save"
                    >
                      Change
                    </Button>
                  </Group>
                )}
              </Stack>
            )}
          </>
        )}
      </Stack>
      <EnlargedImage image={enlarged && image ? image : null} mistake={mistake} onClose={() => setEnlarged(false)} />
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
            Most confident mistakes first. Look at each photo: usually the model is wrong, sometimes the label is. Change a label only when the photo shows it is wrong.
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
