import { Button, Card, Group, NavLink, Select, Text, TextInput } from "@mantine/core";
import { IconPhoto, IconPlus, IconTag } from "@tabler/icons-react";
import { useState, type FormEvent } from "react";
import { useDatasetRefresh, useLabelCreate } from "../../api/hooks";
import type { DatasetStats, Label } from "../../api/types";
import { formatNumber, labelColor } from "../../lib/format";
import { notifySuccess } from "../../lib/notify";
import { MetadataFilter } from "./MetadataFilter";

const SPLIT_OPTIONS = [
  { value: "", label: "All splits" },
  { value: "train", label: "Train" },
  { value: "val", label: "Validation" },
  { value: "test", label: "Test" },
  { value: "none", label: "Not assigned" },
];

/** Beside the grid: what to show (all, unlabeled, a label, a split, metadata values), and a new label. */
export function FilterSidebar({
  projectId,
  labels,
  stats,
  label,
  unlabeled,
  split,
  meta,
  onFilter,
  onSplit,
  onMeta,
}: {
  projectId: number;
  labels: Label[];
  stats: DatasetStats | undefined;
  /** The label shown ("" for all), whether only unlabeled images are, and the split. */
  label: string;
  unlabeled: boolean;
  split: string;
  /** The metadata filter: column -> value. */
  meta: Record<string, string>;
  onFilter: (filter: { label?: string; unlabeled?: boolean }) => void;
  onSplit: (split: string | null) => void;
  onMeta: (column: string, value: string | null) => void;
}) {
  const [newLabel, setNewLabel] = useState("");
  const refresh = useDatasetRefresh(projectId);
  const addLabel = useLabelCreate(projectId, {
    onSuccess: (created) => {
      setNewLabel("");
      notifySuccess(`Label “${created.name}” added.`);
      refresh({ images: false });
    },
  });
  const submitLabel = (e: FormEvent) => {
    e.preventDefault();
    if (newLabel.trim()) addLabel.mutate(newLabel.trim());
  };

  return (
    <Card padding="sm" data-testid="filters">
      <Text fw={600} size="sm" px="xs" mb={4}>
        Show
      </Text>
      <NavLink
        label="All images"
        leftSection={<IconPhoto size={16} />}
        rightSection={<Text size="xs">{formatNumber(stats?.total)}</Text>}
        active={!label && !unlabeled}
        onClick={() => onFilter({})}
        data-testid="filter-all"
      />
      <NavLink
        label="Unlabeled"
        leftSection={<IconTag size={16} />}
        rightSection={<Text size="xs">{formatNumber(stats?.unlabeled)}</Text>}
        active={unlabeled}
        onClick={() => onFilter({ unlabeled: true })}
        data-testid="filter-unlabeled"
      />
      {labels.map((item, i) => (
        <NavLink
          key={item.id}
          label={item.name}
          leftSection={
            <span
              style={{
                width: 10,
                height: 10,
                borderRadius: 5,
                background: labelColor(item.name, i, item.color),
                display: "inline-block",
              }}
            />
          }
          rightSection={<Text size="xs">{formatNumber(item.image_count ?? 0)}</Text>}
          active={label === item.name}
          onClick={() => onFilter({ label: item.name })}
          data-testid="filter-label"
          data-label={item.name}
        />
      ))}
      <Select
        mt="sm"
        px="xs"
        size="xs"
        label="Split"
        data={SPLIT_OPTIONS}
        value={split}
        onChange={onSplit}
        allowDeselect={false}
        data-testid="filter-split"
      />
      <MetadataFilter projectId={projectId} meta={meta} onMeta={onMeta} />
      <form onSubmit={submitLabel}>
        <Group gap={6} mt="md" px="xs" wrap="nowrap" align="flex-end">
          <TextInput
            size="xs"
            label="New label"
            placeholder="e.g. wasps"
            value={newLabel}
            onChange={(e) => setNewLabel(e.currentTarget.value)}
            style={{ flex: 1 }}
            data-testid="add-label-input"
          />
          <Button
            size="xs"
            type="submit"
            variant="light"
            loading={addLabel.isPending}
            disabled={!newLabel.trim()}
            leftSection={<IconPlus size={14} />}
            data-testid="add-label"
          >
            Add
          </Button>
        </Group>
      </form>
    </Card>
  );
}
