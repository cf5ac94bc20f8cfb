import {
  ActionIcon,
  Anchor,
  Box,
  Button,
  Center,
  Grid,
  Group,
  Kbd,
  Loader,
  Modal,
  ScrollArea,
  Select,
  Stack,
  Table,
  Text,
  Timeline,
  Tooltip,
} from "@mantine/core";
import { IconChevronLeft, IconChevronRight, IconExternalLink, IconTag, IconTrash } from "@tabler/icons-react";
import { useImage, useImageHistory } from "../../api/hooks";
import type { ImageItem, Label } from "../../api/types";
import { formatBytes, formatDateTime, formatRelative, labelColor, splitLabel } from "../../lib/format";
import { ErrorState } from "../../components/States";

/** The columns a CSV attached to the image (camera, site, date…), by name. */
function Metadata({ metadata }: { metadata: Record<string, string> | undefined }) {
  const entries = Object.entries(metadata ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return null;
  return (
    <div>
      <Text size="sm" fw={600} mb={6}>
        Metadata
      </Text>
      <Table fz="xs" verticalSpacing={4} data-testid="viewer-metadata">
        <Table.Tbody>
          {entries.map(([key, value]) => (
            <Table.Tr key={key} data-testid="viewer-metadata-row" data-key={key}>
              <Table.Th w={90} style={{ wordBreak: "break-word" }}>
                {key}
              </Table.Th>
              <Table.Td style={{ wordBreak: "break-word" }}>{value}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </div>
  );
}

function History({ projectId, imageId }: { projectId: number; imageId: number }) {
  const history = useImageHistory(projectId, imageId);
  if (history.isPending) return <Loader size="xs" />;
  if (history.isError) return <Text size="xs" c="dimmed">The label history could not be loaded.</Text>;
  if (!history.data.length) return <Text size="xs" c="dimmed">No label changes yet.</Text>;
  return (
    <Timeline bulletSize={18} lineWidth={2} active={history.data.length}>
      {history.data.slice(0, 20).map((event) => {
        const from = event.old_label;
        const to = event.new_label;
        return (
          <Timeline.Item key={event.id} bullet={<IconTag size={10} />}>
            <Text size="xs">
              {to ? (
                <>
                  Labeled <b>{to}</b>
                  {from ? (
                    <>
                      {" "}
                      (was {from})
                    </>
                  ) : null}
                </>
              ) : (
                <>Label {from ? <b>{from}</b> : ""} removed</>
              )}
            </Text>
            <Text size="xs" c="dimmed">
              {event.actor ? `${event.actor} · ` : ""}
              {event.source && event.source !== "user" ? `${event.source} · ` : ""}
              {formatRelative(event.created_at)}
            </Text>
          </Timeline.Item>
        );
      })}
    </Timeline>
  );
}

export interface ImageViewerProps {
  projectId: number;
  imageId: number | null;
  /** The image from the grid, when it is loaded there (saves a request). */
  item?: ImageItem;
  /** The image was deleted: never ask for it again (the viewer is moving on). */
  gone?: boolean;
  labels: Label[];
  hasPrev: boolean;
  hasNext: boolean;
  onPrev: () => void;
  onNext: () => void;
  onClose: () => void;
  onLabel: (image: ImageItem, label: string | null) => void;
  onSplit: (image: ImageItem, split: string) => void;
  onDelete: (image: ImageItem) => void;
}

export function ImageViewer(props: ImageViewerProps) {
  const { projectId, imageId, labels } = props;
  const fetched = useImage(projectId, props.item || props.gone ? null : imageId);
  const image = props.item ?? fetched.data;

  return (
    <Modal
      opened={imageId !== null}
      onClose={props.onClose}
      size="80rem"
      title={
        <Text fw={600} truncate maw={600}>
          {image?.filename ?? "Image"}
        </Text>
      }
      centered
      data-testid="image-viewer"
    >
      {!image ? (
        fetched.isError ? (
          <ErrorState error={fetched.error} />
        ) : (
          <Center h={300}>
            <Loader />
          </Center>
        )
      ) : (
        <Grid gutter="lg">
          <Grid.Col span={{ base: 12, md: 8 }}>
            <Box pos="relative" bg="dark.8" style={{ borderRadius: 8, overflow: "hidden" }}>
              <Center h="min(68vh, 640px)">
                <img
                  src={image.file_url ?? undefined}
                  alt={image.filename}
                  style={{ maxWidth: "100%", maxHeight: "min(68vh, 640px)", objectFit: "contain", display: "block" }}
                  data-testid="viewer-image"
                />
              </Center>
              <ActionIcon
                pos="absolute"
                top="50%"
                left={8}
                size="lg"
                radius="xl"
                variant="white"
                disabled={!props.hasPrev}
                onClick={props.onPrev}
                aria-label="Previous image"
              >
                <IconChevronLeft size={20} />
              </ActionIcon>
              <ActionIcon
                pos="absolute"
                top="50%"
                right={8}
                size="lg"
                radius="xl"
                variant="white"
                disabled={!props.hasNext}
                onClick={props.onNext}
                aria-label="Next image"
              >
                <IconChevronRight size={20} />
              </ActionIcon>
            </Box>
          </Grid.Col>
          <Grid.Col span={{ base: 12, md: 4 }}>
            <ScrollArea.Autosize mah="min(68vh, 640px)">
              <Stack gap="md">
                <div>
                  <Text size="sm" fw={600} mb={6}>
                    Label
                  </Text>
                  <Group gap={6}>
                    {labels.map((label, i) => (
                      <Button
                        key={label.id}
                        size="xs"
                        variant={image.label === label.name ? "filled" : "light"}
                        color={labelColor(label.name, i, label.color)}
                        onClick={() => props.onLabel(image, label.name)}
                        leftSection={i < 9 ? <Kbd size="xs">{i + 1}</Kbd> : undefined}
                        data-testid="viewer-label-button"
                        data-label={label.name}
                      >
                        {label.name}
                      </Button>
                    ))}
                    <Button
                      size="xs"
                      variant="subtle"
                      color="gray"
                      disabled={!image.label}
                      onClick={() => props.onLabel(image, null)}
                      leftSection={<Kbd size="xs">u</Kbd>}
                    >
                      No label
                    </Button>
                  </Group>
                </div>
                <Select
                  label="Split"
                  description={image.split_locked ? "Set by hand or by the data: automatic balancing leaves it." : undefined}
                  data={[
                    { value: "train", label: "Train" },
                    { value: "val", label: "Validation" },
                    { value: "test", label: "Test" },
                  ]}
                  value={image.split || null}
                  placeholder="Not assigned (automatic)"
                  onChange={(value) => value && props.onSplit(image, value)}
                  allowDeselect={false}
                />
                <Table fz="xs" verticalSpacing={4} data-testid="viewer-details">
                  <Table.Tbody>
                    <Table.Tr>
                      <Table.Th w={90}>File</Table.Th>
                      <Table.Td style={{ wordBreak: "break-all" }}>{image.filename}</Table.Td>
                    </Table.Tr>
                    <Table.Tr>
                      <Table.Th>Size</Table.Th>
                      <Table.Td>
                        {image.width} × {image.height} px · {formatBytes(image.size_bytes)} · {image.format}
                      </Table.Td>
                    </Table.Tr>
                    <Table.Tr>
                      <Table.Th>Split</Table.Th>
                      <Table.Td>{splitLabel(image.split)}</Table.Td>
                    </Table.Tr>
                    <Table.Tr>
                      <Table.Th>Source</Table.Th>
                      <Table.Td>
                        {image.source}
                        {image.source_url ? (
                          <>
                            {" · "}
                            <Anchor href={image.source_url} target="_blank" rel="noreferrer" size="xs">
                              link
                            </Anchor>
                          </>
                        ) : null}
                      </Table.Td>
                    </Table.Tr>
                    <Table.Tr>
                      <Table.Th>Added</Table.Th>
                      <Table.Td>{formatDateTime(image.created_at)}</Table.Td>
                    </Table.Tr>
                    <Table.Tr>
                      <Table.Th>SHA-256</Table.Th>
                      <Table.Td>
                        <Tooltip label={image.sha256}>
                          <Text size="xs" className="mono">
                            {image.sha256.slice(0, 16)}…
                          </Text>
                        </Tooltip>
                      </Table.Td>
                    </Table.Tr>
                  </Table.Tbody>
                </Table>
                <Metadata metadata={image.metadata} />
                <div>
                  <Text size="sm" fw={600} mb={6}>
                    History
                  </Text>
                  <History projectId={projectId} imageId={image.id} />
                </div>
                <Group justify="space-between">
                  {image.original_url ? (
                    <Anchor href={image.original_url} target="_blank" rel="noreferrer" size="sm">
                      <Group gap={4}>
                        <IconExternalLink size={14} />
                        Original file
                      </Group>
                    </Anchor>
                  ) : (
                    <span />
                  )}
                  <Button
                    size="xs"
                    color="red"
                    variant="light"
                    leftSection={<IconTrash size={14} />}
                    onClick={() => props.onDelete(image)}
                    data-testid="viewer-delete"
                  >
                    Delete image
                  </Button>
                </Group>
              </Stack>
            </ScrollArea.Autosize>
          </Grid.Col>
        </Grid>
      )}
    </Modal>
  );
}
