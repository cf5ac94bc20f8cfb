import { Badge, Box, Group, Image, Stack, Text, Tooltip } from "@mantine/core";
import { useImagesById, type Neighbour } from "../../api/hooks";
import { formatPercent, labelColor } from "../../lib/format";

/**
 * Why an image was flagged, in pictures: its nearest labelled images in embedding space, each
 * with its label and how alike the two are. A label issue whose neighbours all carry the
 * suggested label, or a stranger whose nearest images are barely alike, explains itself.
 */
export function Neighbours({
  projectId,
  neighbours,
  caption,
}: {
  projectId: number;
  neighbours: readonly Neighbour[];
  caption: string;
}) {
  const fetched = useImagesById(
    projectId,
    neighbours.map((n) => n.image),
  );
  if (neighbours.length === 0) return null;
  return (
    <Stack gap={4} data-testid="health-neighbours">
      <Text size="xs" c="dimmed">
        {caption}
      </Text>
      <Group gap="xs" wrap="nowrap" align="flex-start">
        {neighbours.map((n, i) => {
          const image = fetched[i]?.data;
          return (
            <Tooltip key={n.image} label={image?.filename ?? `Image ${n.image}`} withinPortal>
              <Stack gap={2} w={84} data-testid="health-neighbour" data-image-id={n.image} data-label={n.label ?? ""}>
                <Box bg="gray.1" h={84} style={{ borderRadius: 4, overflow: "hidden" }}>
                  {image?.thumbnail_url ? (
                    <Image src={image.thumbnail_url} alt={image.filename} h={84} w={84} fit="cover" />
                  ) : null}
                </Box>
                <Badge size="xs" variant="light" color={n.label ? labelColor(n.label) : "gray"} fullWidth>
                  {n.label ?? "no label"}
                </Badge>
                <Text size="xs" c="dimmed" ta="center">
                  {formatPercent(n.similarity, 0)} alike
                </Text>
              </Stack>
            </Tooltip>
          );
        })}
      </Group>
    </Stack>
  );
}

/** The sentence above the neighbours, per kind of issue. */
export function neighboursCaption(kind: "label" | "duplicate" | "outlier", neighbours: readonly Neighbour[], suggested?: string): string {
  if (kind === "label" && suggested) {
    const agreeing = neighbours.filter((n) => n.label === suggested).length;
    return `The ${neighbours.length} most similar labelled images: ${agreeing} of them labelled “${suggested}”.`;
  }
  if (kind === "outlier") return `Even its ${neighbours.length} most similar labelled images are not much alike.`;
  return `The ${neighbours.length} most similar labelled images besides its twin.`;
}
