import { Button, Group, Kbd, Loader, Stack, Text, Tooltip } from "@mantine/core";
import { IconKeyboard, IconSelectAll, IconTrash, IconX } from "@tabler/icons-react";
import type { Label } from "../../api/types";
import { formatNumber, labelColor } from "../../lib/format";

/** Above the grid: a button per label (with its number key), the count, and the selection's actions. */
export function LabelToolbar({
  labels,
  selectedCount,
  canAssign,
  total,
  filtered,
  fetching,
  allInFilter,
  onAssign,
  onShowShortcuts,
  onSelectAll,
  onClearSelection,
  onDelete,
}: {
  labels: Label[];
  selectedCount: number;
  canAssign: boolean;
  total: number;
  filtered: boolean;
  fetching: boolean;
  allInFilter: boolean;
  onAssign: (label: string | null) => void;
  onShowShortcuts: () => void;
  onSelectAll: () => void;
  onClearSelection: () => void;
  onDelete: () => void;
}) {
  return (
    <Stack gap="sm">
      <Group justify="space-between" wrap="wrap" gap="xs">
        <Group gap={6} wrap="wrap" data-testid="label-bar">
          <Text size="sm" c="dimmed" mr={4}>
            {selectedCount > 1 ? `Label ${formatNumber(selectedCount)} selected as` : "Label as"}
          </Text>
          {labels.map((label, i) => (
            <Tooltip key={label.id} label={canAssign ? `Press ${i + 1}` : "Click an image first"} disabled={i >= 9 && canAssign}>
              <Button
                size="xs"
                variant="light"
                color={labelColor(label.name, i, label.color)}
                leftSection={i < 9 ? <Kbd size="xs">{i + 1}</Kbd> : undefined}
                disabled={!canAssign}
                onClick={() => onAssign(label.name)}
                data-testid="label-button"
                data-label={label.name}
              >
                {label.name}
              </Button>
            </Tooltip>
          ))}
          <Button
            size="xs"
            variant="subtle"
            color="gray"
            leftSection={<Kbd size="xs">u</Kbd>}
            disabled={!canAssign}
            onClick={() => onAssign(null)}
            data-testid="clear-label-button"
          >
            No label
          </Button>
        </Group>
        <Button
          size="xs"
          variant="subtle"
          color="gray"
          leftSection={<IconKeyboard size={16} />}
          onClick={onShowShortcuts}
          data-testid="show-shortcuts"
        >
          Shortcuts <Kbd size="xs" ml={6}>?</Kbd>
        </Button>
      </Group>
      <Group justify="space-between" gap="xs" mih={30}>
        <Group gap="xs">
          <Text size="sm" data-testid="grid-count">
            {formatNumber(total)} {total === 1 ? "image" : "images"}
            {filtered ? " match" : ""}
          </Text>
          {fetching && <Loader size={14} />}
          {selectedCount > 0 && (
            <Text size="sm" fw={600} data-testid="selection-count">
              · {formatNumber(selectedCount)} selected
            </Text>
          )}
        </Group>
        <Group gap="xs">
          {total > 0 && !allInFilter && (
            <Button size="xs" variant="default" leftSection={<IconSelectAll size={16} />} onClick={onSelectAll} data-testid="select-all">
              Select all {formatNumber(total)}
            </Button>
          )}
          {selectedCount > 0 && (
            <>
              <Button
                size="xs"
                variant="default"
                leftSection={<IconX size={16} />}
                onClick={onClearSelection}
                data-testid="clear-selection"
              >
                Clear selection
              </Button>
              <Button size="xs" color="red" variant="light" leftSection={<IconTrash size={16} />} onClick={onDelete} data-testid="bulk-delete">
                Delete
              </Button>
            </>
          )}
        </Group>
      </Group>
    </Stack>
  );
}
