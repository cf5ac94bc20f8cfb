import { Button, Group, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { notifyError, notifySuccess } from "../lib/notify";

export const UNDO_MS = 10_000;

/**
 * A success toast with an Undo button. `undo` restores the previous state through the API;
 * the toast then says whether that worked. Each call replaces the toast of the same `id`.
 */
export function notifyUndoable({
  id,
  message,
  title,
  undo,
  undoneMessage = "Undone.",
  autoClose = UNDO_MS,
}: {
  id: string;
  message: string;
  title?: string;
  undo: () => Promise<unknown>;
  undoneMessage?: string;
  autoClose?: number;
}) {
  let used = false;
  const onUndo = async () => {
    if (used) return;
    used = true;
    notifications.hide(id);
    try {
      await undo();
      notifySuccess(undoneMessage);
    } catch (error) {
      notifyError(error, "Could not undo");
    }
  };
  notifications.show({
    id,
    color: "teal",
    title,
    autoClose,
    message: (
      <Group justify="space-between" wrap="nowrap" gap="sm" data-testid="undo-toast">
        <Text size="sm" style={{ flex: 1, minWidth: 0 }}>
          {message}
        </Text>
        <Button size="compact-xs" variant="light" onClick={() => void onUndo()} data-testid="undo" style={{ flexShrink: 0 }}>
          Undo
        </Button>
      </Group>
    ),
  });
}
