import { Button, Card, Collapse, Group, Text } from "@mantine/core";
import { IconPhotoPlus } from "@tabler/icons-react";
import type { Label } from "../../api/types";
import { UploadPanel } from "./UploadPanel";

/** The upload box above the grid, folded away once the project has images. */
export function UploadCard({
  projectId,
  labels,
  open,
  onToggle,
}: {
  projectId: number;
  labels: Label[];
  open: boolean;
  onToggle: () => void;
}) {
  return (
    <Card padding={0}>
      <Group justify="space-between" p="md">
        <Group gap="xs">
          <IconPhotoPlus size={20} />
          <Text fw={600}>Upload</Text>
          <Text size="sm" c="dimmed">
            images, folders or a zip
          </Text>
        </Group>
        <Button variant={open ? "default" : "filled"} size="xs" onClick={onToggle} data-testid="toggle-upload">
          {open ? "Hide" : "Add images"}
        </Button>
      </Group>
      <Collapse in={open}>
        <div style={{ padding: "0 var(--mantine-spacing-md) var(--mantine-spacing-md)" }}>
          <UploadPanel projectId={projectId} labels={labels} />
        </div>
      </Collapse>
    </Card>
  );
}
