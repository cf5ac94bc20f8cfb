import { Badge, Button, Card, Center, Group, Kbd, Loader, SimpleGrid, Stack, Text } from "@mantine/core";
import { IconArrowRight, IconCheck, IconFlask, IconHandStop, IconPhotoOff, IconTrash } from "@tabler/icons-react";
import type { ImageItem } from "../../api/types";
import { formatDecimal, formatPercent, splitLabel } from "../../lib/format";
import { Neighbours, neighboursCaption } from "./Neighbours";
import { itemActions, type FixItem, type QueueAction } from "./queue";

export const KIND_NAMES: Record<FixItem["kind"], string> = {
  label: "Label issue",
  duplicate: "Near-duplicate",
  outlier: "Stranger",
};

export const KIND_COLORS: Record<FixItem["kind"], string> = { label: "red", duplicate: "orange", outlier: "grape" };

function LargeImage({ image, loading, height = 380 }: { image?: ImageItem; loading: boolean; height?: number }) {
  if (loading) {
    return (
      <Center h={height} bg="gray.1">
        <Loader size="sm" />
      </Center>
    );
  }
  if (!image) {
    return (
      <Center h={height} bg="gray.1">
        <Stack align="center" gap={4}>
          <IconPhotoOff size={28} color="var(--mantine-color-dimmed)" />
          <Text size="xs" c="dimmed">
            Image deleted
          </Text>
        </Stack>
      </Center>
    );
  }
  return (
    <Center bg="gray.1" h={height}>
      <img
        src={image.file_url ?? image.thumbnail_url ?? undefined}
        alt={image.filename}
        style={{ maxWidth: "100%", maxHeight: height, objectFit: "contain" }}
        data-testid="health-image"
      />
    </Center>
  );
}

function ImageFacts({ image }: { image?: ImageItem }) {
  if (!image) return null;
  return (
    <Group gap={6} wrap="nowrap">
      <Text size="xs" c="dimmed" truncate maw={220} title={image.filename}>
        {image.filename}
      </Text>
      <Badge size="sm" variant="light" color="gray">
        {image.label ?? "no label"}
      </Badge>
      <Badge size="sm" variant="outline" color={image.split === "test" ? "blue" : "gray"}>
        {splitLabel(image.split)}
      </Badge>
    </Group>
  );
}

function Why({ item }: { item: FixItem }) {
  if (item.kind === "label") {
    return (
      <Text size="sm" data-testid="health-why">
        Labelled <b>“{item.label}”</b>, but a model trained without this image finds <b>“{item.suggested}”</b> more
        likely. Score {formatDecimal(item.score)}: how likely the label is wrong.
      </Text>
    );
  }
  if (item.kind === "duplicate") {
    return (
      <Text size="sm" data-testid="health-why">
        These two images are {formatPercent(item.similarity)} alike.{" "}
        {item.crossSplit
          ? "One is in the test split and the other is not: the test score counts an image the model has as good as seen. Delete the copy or move it to the test split too."
          : "Both are in the same split: the image counts twice in training."}
      </Text>
    );
  }
  return (
    <Text size="sm" data-testid="health-why">
      Far from every other image (mean distance {formatDecimal(item.score)} to its 5 nearest). It may belong to none of
      the classes, or be a broken or placeholder file.
    </Text>
  );
}

const BUTTONS: ReadonlyArray<{ action: QueueAction; key: string; color: string; icon: typeof IconCheck }> = [
  { action: "accept", key: "a", color: "teal", icon: IconCheck },
  { action: "keep", key: "k", color: "gray", icon: IconHandStop },
  { action: "delete", key: "d", color: "red", icon: IconTrash },
  { action: "test", key: "t", color: "blue", icon: IconFlask },
];

function buttonLabel(action: QueueAction, item: FixItem): string {
  if (action === "accept" && item.kind === "label") return `Accept “${item.suggested}”`;
  if (action === "keep") return item.kind === "label" ? `Keep “${item.label}”` : item.kind === "duplicate" ? "Keep both" : "Keep it";
  if (action === "delete") return item.kind === "duplicate" ? "Delete the copy" : "Delete";
  if (action === "test") return item.kind === "duplicate" ? "Both to test" : "Move to test";
  return action;
}

/** One item of the fix queue: the image large, label against suggestion, why, and the actions. */
export function FixItemCard({
  projectId,
  item,
  images,
  loading,
  copyId,
  busy,
  onAction,
}: {
  projectId: number;
  item: FixItem;
  images: Map<number, ImageItem>;
  loading: boolean;
  /** Of a duplicate pair, the image "delete" removes. */
  copyId?: number;
  busy: boolean;
  onAction: (action: QueueAction) => void;
}) {
  const allowed = itemActions(item);
  return (
    <Card withBorder padding="md" data-testid="health-item" data-kind={item.kind} data-image-id={item.kind === "duplicate" ? item.images.join(",") : item.image}>
      <Group justify="space-between" mb="sm">
        <Badge color={KIND_COLORS[item.kind]} variant="light">
          {KIND_NAMES[item.kind]}
        </Badge>
        {item.kind === "label" && (
          <Group gap={6} data-testid="health-label-vs-suggestion">
            <Badge variant="light" color="gray" size="lg">
              {item.label}
            </Badge>
            <IconArrowRight size={16} />
            <Badge variant="light" color="teal" size="lg">
              {item.suggested}
            </Badge>
          </Group>
        )}
        {item.kind === "duplicate" && item.crossSplit && (
          <Badge color="red" variant="filled">
            Leaks into the test split
          </Badge>
        )}
      </Group>
      {item.kind === "duplicate" ? (
        <SimpleGrid cols={2}>
          {item.images.map((id) => (
            <Stack key={id} gap={4}>
              <LargeImage image={images.get(id)} loading={loading} height={300} />
              <Group justify="space-between">
                <ImageFacts image={images.get(id)} />
                {id === copyId && (
                  <Badge size="sm" color="orange" variant="dot">
                    the copy
                  </Badge>
                )}
              </Group>
            </Stack>
          ))}
        </SimpleGrid>
      ) : (
        <Stack gap={4}>
          <LargeImage image={images.get(item.image)} loading={loading} />
          <ImageFacts image={images.get(item.image)} />
        </Stack>
      )}
      <Stack gap="sm" mt="md">
        <Why item={item} />
        {item.neighbours && item.neighbours.length > 0 && (
          <Neighbours
            key={item.key}
            projectId={projectId}
            neighbours={item.neighbours}
            caption={neighboursCaption(item.kind, item.neighbours, item.kind === "label" ? item.suggested : undefined)}
          />
        )}
        <Group gap="xs">
          {BUTTONS.filter((b) => allowed.has(b.action)).map(({ action, key, color, icon: Icon }) => (
            <Button
              key={action}
              size="sm"
              variant={action === "accept" ? "filled" : "light"}
              color={color}
              leftSection={<Icon size={16} />}
              rightSection={<Kbd size="xs">{key}</Kbd>}
              disabled={busy}
              onClick={() => onAction(action)}
              data-testid={`health-${action}`}
            >
              {buttonLabel(action, item)}
            </Button>
          ))}
        </Group>
      </Stack>
    </Card>
  );
}
