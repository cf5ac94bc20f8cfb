import { AspectRatio, Badge, Card, Center, Group, SimpleGrid, Skeleton, Text } from "@mantine/core";
import { IconPhotoOff } from "@tabler/icons-react";
import { useImagesById } from "../../api/hooks";
import { ConfusionTable } from "../../components/ConfusionTable";
import { formatNumber } from "../../lib/format";

// A gallery shows this many images; the rest are counted.
const GALLERY_MAX = 24;

/** One version's confusion matrix on the shared test images (rows: truth, columns: answer). */
export function SmallConfusion({
  title,
  labels,
  matrix,
  testId,
}: {
  title: string;
  labels: string[];
  matrix: number[][];
  testId: string;
}) {
  return (
    <Card data-testid={testId}>
      <Text fw={600}>{title}</Text>
      <Text size="xs" c="dimmed" mb="sm">
        Rows: the true label. Columns: what the model said.
      </Text>
      <ConfusionTable labels={labels} matrix={matrix} cellTestId="compare-confusion-cell" />
    </Card>
  );
}

/** Thumbnails of images (by id) with their label now: the images one version fixed or broke. */
export function ImageGallery({
  projectId,
  ids,
  title,
  description,
  color,
  testId,
}: {
  projectId: number;
  ids: number[];
  title: string;
  description: string;
  color: string;
  testId: string;
}) {
  const shown = ids.slice(0, GALLERY_MAX);
  const images = useImagesById(projectId, shown);
  return (
    <Card data-testid={testId} data-count={ids.length}>
      <Group gap="xs">
        <Text fw={600}>{title}</Text>
        <Badge color={color} variant="light">
          {formatNumber(ids.length)}
        </Badge>
      </Group>
      <Text size="xs" c="dimmed" mb="sm">
        {description}
        {ids.length > GALLERY_MAX ? ` The first ${GALLERY_MAX} are shown.` : ""}
      </Text>
      {ids.length === 0 ? (
        <Text size="sm" c="dimmed">
          None.
        </Text>
      ) : (
        <SimpleGrid cols={{ base: 3, sm: 4, md: 6 }} spacing="xs">
          {shown.map((id, k) => {
            const query = images[k];
            const image = query?.data;
            return (
              <div key={id} data-testid={`${testId}-image`} data-image={id}>
                <AspectRatio ratio={1}>
                  {query?.isPending ? (
                    <Skeleton />
                  ) : image?.thumbnail_url ? (
                    <img
                      src={image.thumbnail_url}
                      alt={image.filename}
                      style={{ objectFit: "cover", borderRadius: 6, width: "100%", height: "100%" }}
                    />
                  ) : (
                    <Center bg="gray.1" style={{ borderRadius: 6 }}>
                      <IconPhotoOff size={20} />
                    </Center>
                  )}
                </AspectRatio>
                <Text size="xs" c="dimmed" truncate>
                  {image?.label ?? (query?.isError ? "deleted" : "")}
                </Text>
              </div>
            );
          })}
        </SimpleGrid>
      )}
    </Card>
  );
}
