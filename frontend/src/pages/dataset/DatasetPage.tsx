import {
  Button,
  Card,
  Collapse,
  Grid,
  Group,
  Kbd,
  Loader,
  Modal,
  NavLink,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Tooltip,
} from "@mantine/core";
import {
  IconFilterOff,
  IconKeyboard,
  IconPhoto,
  IconPhotoPlus,
  IconPlus,
  IconSelectAll,
  IconTag,
  IconTrash,
  IconX,
} from "@tabler/icons-react";
import { useMutation, useQueryClient, type InfiniteData } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent, type MouseEvent } from "react";
import { useSearchParams } from "react-router";
import {
  imageBulkDelete,
  imageBulkLabel,
  imageDelete,
  imageTarget,
  imageUpdate,
  labelCreate,
} from "../../api/endpoints";
import { keys, useImagePages, useLabels, useStats } from "../../api/hooks";
import type { ImageFilter, ImageItem, Paginated } from "../../api/types";
import { EmptyState, ErrorState, PageLoader } from "../../components/States";
import { formatNumber, labelColor, plural } from "../../lib/format";
import { INITIAL_LABELING, isTypingTarget, labelingKeyDown, SHORTCUTS, type LabelingState } from "../../lib/keyboard";
import { notifySuccess } from "../../lib/notify";
import {
  EMPTY_SELECTION,
  isSelected as selectionHas,
  selectAllInFilter,
  selectionClick,
  selectionCount,
  selectionPrune,
  selectionTarget,
  selectionToggle,
  type SelectionState,
} from "../../lib/selection";
import { useProjectContext } from "../project/context";
import { ClassBalance } from "./ClassBalance";
import { ImageViewer } from "./ImageViewer";
import { ThumbnailGrid } from "./ThumbnailGrid";
import { UploadPanel } from "./UploadPanel";
import { useDatasetRefresh, useThrottledRefresh } from "./useDatasetRefresh";

type ImagePages = InfiniteData<Paginated<ImageItem>>;

/** Updates an image wherever it is cached (grid pages, viewer) without refetching the grid. */
function patchImageCaches(old: unknown, id: number, changes: Partial<ImageItem>): unknown {
  if (!old || typeof old !== "object" || Array.isArray(old)) return old;
  if ("pages" in old) {
    const data = old as ImagePages;
    return {
      ...data,
      pages: data.pages.map((page) => ({
        ...page,
        results: page.results.map((item) => (item.id === id ? { ...item, ...changes } : item)),
      })),
    };
  }
  if ((old as ImageItem).id === id) return { ...(old as ImageItem), ...changes };
  return old;
}

function ShortcutsModal({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  return (
    <Modal opened={opened} onClose={onClose} title={<Text fw={700}>Keyboard shortcuts</Text>} centered>
      <Table data-testid="shortcuts-help" verticalSpacing="xs">
        <Table.Tbody>
          {SHORTCUTS.map((s) => (
            <Table.Tr key={s.keys}>
              <Table.Td w={140}>
                <Kbd>{s.keys}</Kbd>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{s.action}</Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Text size="xs" c="dimmed" mt="sm">
        Number keys follow the order of the labels in the side bar. When several images are selected, a label key labels
        all of them.
      </Text>
    </Modal>
  );
}

export default function DatasetPage() {
  const { project } = useProjectContext();
  const projectId = project.id;
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();

  const labelParam = params.get("label") ?? "";
  const unlabeled = params.get("unlabeled") === "true";
  const split = params.get("split") ?? "";
  const filter: ImageFilter = useMemo(
    () => ({ label: labelParam || undefined, unlabeled: unlabeled || undefined, split: split || undefined }),
    [labelParam, unlabeled, split],
  );
  const filtered = Boolean(labelParam || unlabeled || split);
  const viewerParam = params.get("image");
  const viewerId = viewerParam && /^\d+$/.test(viewerParam) ? Number(viewerParam) : null;

  const labelsQuery = useLabels(projectId);
  const labels = useMemo(() => labelsQuery.data ?? [], [labelsQuery.data]);
  const labelNames = useMemo(() => labels.map((l) => l.name), [labels]);
  const stats = useStats(projectId);
  const pages = useImagePages(projectId, filter);
  const items = useMemo(() => pages.data?.pages.flatMap((p) => p.results) ?? [], [pages.data]);
  const ids = useMemo(() => items.map((i) => i.id), [items]);
  const total = pages.data?.pages[0]?.count ?? 0;

  const [selection, setSelection] = useState<SelectionState>(EMPTY_SELECTION);
  const [kb, setKb] = useState<LabelingState>(INITIAL_LABELING);
  const [columns, setColumns] = useState(1);
  const [confirmDelete, setConfirmDelete] = useState<null | { ids: number[] | "filter"; count: number }>(null);
  const [uploadOpen, setUploadOpen] = useState((project.image_count ?? 0) === 0);
  const [newLabel, setNewLabel] = useState("");

  const refresh = useDatasetRefresh(projectId);
  const refreshCounts = useThrottledRefresh(projectId, 1500, { images: false });

  // A new filter is a new list: the old selection and focus mean nothing there.
  useEffect(() => {
    setSelection(EMPTY_SELECTION);
    setKb((s) => ({ ...s, focus: -1 }));
  }, [labelParam, unlabeled, split]);
  useEffect(() => setSelection((s) => selectionPrune(s, ids)), [ids]);

  const setParam = useCallback(
    (patch: Record<string, string | null>, replace = false) => {
      setParams(
        (prev) => {
          const next = new URLSearchParams(prev);
          for (const [k, v] of Object.entries(patch)) {
            if (v === null || v === "") next.delete(k);
            else next.set(k, v);
          }
          return next;
        },
        { replace },
      );
    },
    [setParams],
  );

  const setFilter = (f: { label?: string; unlabeled?: boolean; split?: string }) =>
    setParam({
      label: f.label ?? null,
      unlabeled: f.unlabeled ? "true" : null,
      split: f.split ?? (split || null),
      image: null,
    });

  const labelIndex = useCallback((name: string | null) => (name ? labelNames.indexOf(name) : -1), [labelNames]);
  const selectedCount = selectionCount(selection, total);

  // --- writes -----------------------------------------------------------------------------
  const patchCached = useCallback(
    (id: number, changes: Partial<ImageItem>) =>
      queryClient.setQueriesData({ queryKey: keys.images(projectId) }, (old) => patchImageCaches(old, id, changes)),
    [projectId, queryClient],
  );

  const labelOne = useMutation({
    mutationFn: ({ image, label }: { image: ImageItem; label: string | null }) => imageUpdate(projectId, image.id, { label }),
    onMutate: ({ image, label }) => {
      patchCached(image.id, { label });
      return { previous: image.label };
    },
    onError: (_error, { image }, context) => patchCached(image.id, { label: context?.previous ?? null }),
    onSuccess: (updated) => {
      patchCached(updated.id, updated);
      queryClient.invalidateQueries({ queryKey: keys.imageHistory(projectId, updated.id) });
      refreshCounts();
    },
  });

  const splitOne = useMutation({
    mutationFn: ({ image, split: value }: { image: ImageItem; split: string }) =>
      imageUpdate(projectId, image.id, { split: value }),
    onSuccess: (updated) => {
      patchCached(updated.id, updated);
      refreshCounts();
    },
  });

  const bulkLabel = useMutation({
    mutationFn: ({ target, label }: { target: number[] | "filter"; label: string | null }) =>
      imageBulkLabel(projectId, imageTarget(target, filter), label),
    onSuccess: (answer, { label }) => {
      const n = answer.updated ?? answer.count;
      notifySuccess(
        label ? `${n !== undefined ? plural(n, "image") : "The images"} labeled “${label}”.` : "Labels removed.",
      );
      setSelection(EMPTY_SELECTION);
      refresh();
    },
  });

  const deleteMany = useMutation({
    mutationFn: (target: number[] | "filter") =>
      Array.isArray(target) && target.length === 1
        ? imageDelete(projectId, target[0]).then(() => ({ deleted: 1 }))
        : imageBulkDelete(projectId, imageTarget(target, filter)),
    onSuccess: (answer) => {
      const n = answer?.deleted ?? (answer as { count?: number } | null)?.count;
      notifySuccess(n !== undefined ? `${plural(n, "image")} deleted.` : "Images deleted.");
      setSelection(EMPTY_SELECTION);
      setConfirmDelete(null);
      setParam({ image: null }, true);
      refresh();
    },
  });

  const addLabel = useMutation({
    mutationFn: (name: string) => labelCreate(projectId, { name }),
    onSuccess: (label) => {
      setNewLabel("");
      notifySuccess(`Label “${label.name}” added.`);
      refresh({ images: false });
    },
  });

  /** Labels the selection when several images are selected, otherwise the image at `index`. */
  const assign = useCallback(
    (index: number, label: string | null) => {
      if (selection.allInFilter || selection.selected.size > 1) {
        bulkLabel.mutate({ target: selectionTarget(selection), label });
        return;
      }
      const image = items[index];
      if (image && image.label !== label) labelOne.mutate({ image, label });
    },
    [bulkLabel, items, labelOne, selection],
  );

  // --- viewer -----------------------------------------------------------------------------
  const viewerIndex = viewerId !== null ? ids.indexOf(viewerId) : -1;
  const openIndex = useCallback(
    (index: number, replace = false) => {
      const item = items[index];
      if (!item) return;
      setKb((s) => ({ ...s, focus: index }));
      setParam({ image: String(item.id) }, replace);
    },
    [items, setParam],
  );
  const closeViewer = () => setParam({ image: null });
  // Opening /…/dataset?image=42 directly: the keyboard follows the image in the viewer.
  useEffect(() => {
    if (viewerIndex >= 0) setKb((s) => (s.focus === viewerIndex ? s : { ...s, focus: viewerIndex }));
  }, [viewerIndex]);

  // --- mouse ------------------------------------------------------------------------------
  const onThumbClick = useCallback(
    (index: number, event: MouseEvent) => {
      setSelection((s) => selectionClick(s, ids, index, { shift: event.shiftKey, toggle: event.ctrlKey || event.metaKey }));
      setKb((s) => ({ ...s, focus: index }));
    },
    [ids],
  );
  const onThumbToggle = useCallback(
    (index: number) => {
      setSelection((s) => selectionToggle(s, ids, index));
      setKb((s) => ({ ...s, focus: index }));
    },
    [ids],
  );
  const isSelected = useCallback((id: number) => selectionHas(selection, id), [selection]);

  // --- keyboard ---------------------------------------------------------------------------
  const onKeyDown = (event: KeyboardEvent) => {
    if (event.defaultPrevented || isTypingTarget(event.target) || confirmDelete) return;
    const single = !selection.allInFilter && selection.selected.size <= 1;
    const result = labelingKeyDown(kb, event, {
      count: items.length,
      columns,
      labels: labelNames,
      autoAdvance: single,
    });
    if (!result.handled) return;
    event.preventDefault();
    // In single-image mode the selection follows the focus (arrows, and the advance after labeling).
    const moved = result.state.focus !== kb.focus;
    setKb(result.state);
    if (result.effect.type === "assign") assign(result.effect.index, result.effect.label);
    if (result.effect.type === "open") openIndex(result.effect.index);
    if (moved && single && result.state.focus >= 0) {
      const id = ids[result.state.focus];
      setSelection({ selected: new Set([id]), anchor: result.state.focus, allInFilter: false });
    }
    if (viewerId !== null && result.state.focus !== kb.focus && result.state.focus >= 0) {
      openIndex(result.state.focus, true);
    }
  };
  const keyHandler = useRef(onKeyDown);
  keyHandler.current = onKeyDown;
  useEffect(() => {
    const listener = (e: KeyboardEvent) => keyHandler.current(e);
    window.addEventListener("keydown", listener);
    return () => window.removeEventListener("keydown", listener);
  }, []);

  const loadMore = useCallback(() => {
    if (pages.hasNextPage && !pages.isFetchingNextPage) void pages.fetchNextPage();
  }, [pages]);

  const submitLabel = (e: FormEvent) => {
    e.preventDefault();
    if (newLabel.trim()) addLabel.mutate(newLabel.trim());
  };

  const targetFocus = kb.focus >= 0 ? kb.focus : -1;
  const canAssign = selectedCount > 0 || targetFocus >= 0;
  const assignFromButton = (label: string | null) => {
    if (selectedCount > 1 || selection.allInFilter) assign(-1, label);
    else if (selection.selected.size === 1) assign(ids.indexOf([...selection.selected][0]), label);
    else if (targetFocus >= 0) assign(targetFocus, label);
  };

  // --- render -----------------------------------------------------------------------------
  const statsData = stats.data;
  const gridBody = pages.isPending ? (
    <PageLoader label="Loading images…" />
  ) : pages.isError ? (
    <ErrorState error={pages.error} onRetry={() => pages.refetch()} />
  ) : total === 0 ? (
    filtered ? (
      <EmptyState
        icon={<IconFilterOff size={32} />}
        title="No images match this filter"
        testId="grid-empty-filtered"
        action={
          <Button variant="light" onClick={() => setParam({ label: null, unlabeled: null, split: null })}>
            Show all images
          </Button>
        }
      >
        {unlabeled ? "Every image has a label. Nice work." : "Try another label or split."}
      </EmptyState>
    ) : (
      <EmptyState
        icon={<IconPhotoPlus size={32} />}
        title="No images yet"
        testId="grid-empty"
        action={
          <Button onClick={() => setUploadOpen(true)} leftSection={<IconPhotoPlus size={18} />}>
            Add images
          </Button>
        }
      >
        Drop photos or a zip in the box above. Aim for at least 10 images per label — 50 or more gives a much better model.
      </EmptyState>
    )
  ) : (
    <ThumbnailGrid
      items={items}
      total={total}
      focus={kb.focus}
      isSelected={isSelected}
      labelIndex={labelIndex}
      hasMore={!!pages.hasNextPage}
      loadingMore={pages.isFetchingNextPage}
      onLoadMore={loadMore}
      onColumns={setColumns}
      onClick={onThumbClick}
      onToggle={onThumbToggle}
      onOpen={(i) => openIndex(i)}
    />
  );

  return (
    <Stack gap="lg">
      <Card padding={0}>
        <Group justify="space-between" p="md">
          <Group gap="xs">
            <IconPhotoPlus size={20} />
            <Text fw={600}>Upload</Text>
            <Text size="sm" c="dimmed">
              images, folders or a zip
            </Text>
          </Group>
          <Button
            variant={uploadOpen ? "default" : "filled"}
            size="xs"
            onClick={() => setUploadOpen((o) => !o)}
            data-testid="toggle-upload"
          >
            {uploadOpen ? "Hide" : "Add images"}
          </Button>
        </Group>
        <Collapse in={uploadOpen}>
          <div style={{ padding: "0 var(--mantine-spacing-md) var(--mantine-spacing-md)" }}>
            <UploadPanel projectId={projectId} labels={labels} />
          </div>
        </Collapse>
      </Card>

      <Grid gutter="lg">
        <Grid.Col span={{ base: 12, md: 9 }}>
          <Card padding="md">
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
                        onClick={() => assignFromButton(label.name)}
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
                    onClick={() => assignFromButton(null)}
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
                  onClick={() => setKb((s) => ({ ...s, helpOpen: true }))}
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
                  {pages.isFetching && !pages.isPending && <Loader size={14} />}
                  {selectedCount > 0 && (
                    <Text size="sm" fw={600} data-testid="selection-count">
                      · {formatNumber(selectedCount)} selected
                    </Text>
                  )}
                </Group>
                <Group gap="xs">
                  {total > 0 && !selection.allInFilter && (
                    <Button
                      size="xs"
                      variant="default"
                      leftSection={<IconSelectAll size={16} />}
                      onClick={() => setSelection(selectAllInFilter())}
                      data-testid="select-all"
                    >
                      Select all {formatNumber(total)}
                    </Button>
                  )}
                  {selectedCount > 0 && (
                    <>
                      <Button
                        size="xs"
                        variant="default"
                        leftSection={<IconX size={16} />}
                        onClick={() => setSelection(EMPTY_SELECTION)}
                        data-testid="clear-selection"
                      >
                        Clear selection
                      </Button>
                      <Button
                        size="xs"
                        color="red"
                        variant="light"
                        leftSection={<IconTrash size={16} />}
                        onClick={() => setConfirmDelete({ ids: selectionTarget(selection), count: selectedCount })}
                        data-testid="bulk-delete"
                      >
                        Delete
                      </Button>
                    </>
                  )}
                </Group>
              </Group>
              {gridBody}
            </Stack>
          </Card>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 3 }}>
          <Stack gap="md">
            <Card padding="sm" data-testid="filters">
              <Text fw={600} size="sm" px="xs" mb={4}>
                Show
              </Text>
              <NavLink
                label="All images"
                leftSection={<IconPhoto size={16} />}
                rightSection={<Text size="xs">{formatNumber(statsData?.total)}</Text>}
                active={!labelParam && !unlabeled}
                onClick={() => setFilter({})}
                data-testid="filter-all"
              />
              <NavLink
                label="Unlabeled"
                leftSection={<IconTag size={16} />}
                rightSection={<Text size="xs">{formatNumber(statsData?.unlabeled)}</Text>}
                active={unlabeled}
                onClick={() => setFilter({ unlabeled: true })}
                data-testid="filter-unlabeled"
              />
              {labels.map((label, i) => (
                <NavLink
                  key={label.id}
                  label={label.name}
                  leftSection={
                    <span
                      style={{
                        width: 10,
                        height: 10,
                        borderRadius: 5,
                        background: labelColor(label.name, i, label.color),
                        display: "inline-block",
                      }}
                    />
                  }
                  rightSection={<Text size="xs">{formatNumber(label.image_count ?? 0)}</Text>}
                  active={labelParam === label.name}
                  onClick={() => setFilter({ label: label.name })}
                  data-testid="filter-label"
                  data-label={label.name}
                />
              ))}
              <Select
                mt="sm"
                px="xs"
                size="xs"
                label="Split"
                data={[
                  { value: "", label: "All splits" },
                  { value: "train", label: "Train" },
                  { value: "val", label: "Validation" },
                  { value: "test", label: "Test" },
                  { value: "none", label: "Not assigned" },
                ]}
                value={split}
                onChange={(v) => setParam({ split: v || null, image: null })}
                allowDeselect={false}
                data-testid="filter-split"
              />
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
            <ClassBalance projectId={projectId} />
          </Stack>
        </Grid.Col>
      </Grid>

      <ImageViewer
        projectId={projectId}
        imageId={viewerId}
        item={viewerIndex >= 0 ? items[viewerIndex] : undefined}
        labels={labels}
        hasPrev={viewerIndex > 0}
        hasNext={viewerIndex >= 0 && viewerIndex < items.length - 1}
        onPrev={() => openIndex(viewerIndex - 1, true)}
        onNext={() => openIndex(viewerIndex + 1, true)}
        onClose={closeViewer}
        onLabel={(image, label) => image.label !== label && labelOne.mutate({ image, label })}
        onSplit={(image, value) => splitOne.mutate({ image, split: value })}
        onDelete={(image) => setConfirmDelete({ ids: [image.id], count: 1 })}
      />

      <ShortcutsModal opened={kb.helpOpen} onClose={() => setKb((s) => ({ ...s, helpOpen: false }))} />

      <Modal
        opened={confirmDelete !== null}
        onClose={() => setConfirmDelete(null)}
        title={<Text fw={700}>Delete {confirmDelete ? plural(confirmDelete.count, "image") : ""}?</Text>}
        centered
      >
        <Text size="sm">
          The {confirmDelete?.count === 1 ? "image and its label are" : "images and their labels are"} removed from this
          project. Models already trained keep working.
        </Text>
        <Group justify="flex-end" mt="lg">
          <Button variant="default" onClick={() => setConfirmDelete(null)}>
            Cancel
          </Button>
          <Button
            color="red"
            loading={deleteMany.isPending}
            onClick={() => confirmDelete && deleteMany.mutate(confirmDelete.ids)}
            data-testid="confirm-delete"
          >
            Delete
          </Button>
        </Group>
      </Modal>
    </Stack>
  );
}
