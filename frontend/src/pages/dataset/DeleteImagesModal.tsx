import { Button, Group, Modal, Text } from "@mantine/core";
import { plural } from "../../lib/format";

/** Asks before deleting `count` images. */
export function DeleteImagesModal({
  count,
  deleting,
  onCancel,
  onConfirm,
}: {
  /** How many images; null while closed. */
  count: number | null;
  deleting: boolean;
  onCancel: () => void;
  onConfirm: () => void;
}) {
  return (
    <Modal
      opened={count !== null}
      onClose={onCancel}
      title={<Text fw={700}>Delete {count !== null ? plural(count, "image") : ""}?</Text>}
      centered
    >
      <Text size="sm">
        The {count === 1 ? "image and its label are" : "images and their labels are"} removed from this project. Models
        already trained keep working.
      </Text>
      <Group justify="flex-end" mt="lg">
        <Button variant="default" onClick={onCancel}>
          Cancel
        </Button>
        <Button color="red" loading={deleting} onClick={onConfirm} data-testid="confirm-delete">
          Delete
        </Button>
      </Group>
    </Modal>
  );
}
