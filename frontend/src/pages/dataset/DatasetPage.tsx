import { Card, Grid, Stack, TextInput } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { IconSearch } from "@tabler/icons-react";
import { useCallback, useEffect, useMemo, useRef, useState, type MouseEvent } from "react";
import { useSearchParams } from "react-router";
import {
  imagesLabelRestore,
  useDatasetRefresh,
  useImageLabel,
  useImagePages,
  useImageSplit,
  useImagesBulkLabel,
  useImagesDelete,
  useLabels,
  useStats,
  useThrottledRefresh,
} from "../../api/hooks";
import type { ImageFilter } from "../../api/types";
import { plural } from "../../lib/format";
import { INITIAL_LABELING, isTypingTarget, labelingKeyDown, type LabelingState } from "../../lib/keyboard";
import { notifySuccess } from "../../lib/notify";
import { notifyUndoable } from "../../components/UndoToast";
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
import { DatasetGrid } from "./DatasetGrid";
import { DeleteImagesModal } from "./DeleteImagesModal";
import { FilterSidebar } from "./FilterSidebar";
import { ImageViewer } from "./ImageViewer";
import { LabelToolbar } from "./LabelToolbar";
import { ShortcutsModal } from "./ShortcutsModal";
import { UploadCard } from "./UploadCard";

const META_PREFIX = "meta.";

/** Upload, browse, filter and label a project's images (mouse or keyboard), one or many at a time. */
export default function DatasetPage() {
  const { project } = useProjectContext();
  const projectId = project.id;
  const [params, setParams] = useSearchParams();

  const labelParam = params.get("label") ?? "";
  const unlabeled = params.get("unlabeled") === "true";
  const split = params.get("split") ?? "";
  const filename = (params.get("filename") ?? "").trim();
  // meta.<column>=<value> in the URL, as the API takes it; a string so effects compare by value.
  const metaKey = JSON.stringify(
    [...params.entries()].filter(([k, v]) => k.startsWith(META_PREFIX) && k.length > META_PREFIX.length && v !== ""),
  );
  const meta = useMemo(
    () => Object.fromEntries((JSON.parse(metaKey) as [string, string][]).map(([k, v]) => [k.slice(META_PREFIX.length), v])),
    [metaKey],
  );
  const hasMeta = Object.keys(meta).length > 0;
  const filter: ImageFilter = useMemo(
    () => ({
      label: labelParam || undefined,
      unlabeled: unlabeled || undefined,
      split: split || undefined,
      filename: filename || undefined,
      meta: hasMeta ? meta : undefined,
    }),
    [labelParam, unlabeled, split, filename, meta, hasMeta],
  );
  const filtered = Boolean(labelParam || unlabeled || split || filename || hasMeta);
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
  // Images being deleted: nothing asks for them again, whatever renders first.
  const [deleting, setDeleting] = useState<ReadonlySet<number>>(new Set());
  const [uploadOpen, setUploadOpen] = useState((project.image_count ?? 0) === 0);

  const refresh = useDatasetRefresh(projectId);
  const refreshCounts = useThrottledRefresh(projectId, 1500, { images: false });

  // A new filter is a new list: the old selection and focus mean nothing there.
  useEffect(() => {
    setSelection(EMPTY_SELECTION);
    setKb((s) => ({ ...s, focus: -1 }));
  }, [labelParam, unlabeled, split, filename, metaKey]);
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
  const labelOne = useImageLabel(projectId, { onSuccess: () => refreshCounts() });
  const splitOne = useImageSplit(projectId, { onSuccess: () => refreshCounts() });
  const bulkLabel = useImagesBulkLabel(projectId, filter);
  /** Labels many images; the toast's Undo puts each one's previous label back. */
  const labelMany = useCallback(
    (target: number[] | "filter", label: string | null) => {
      // The labels before the change, of every image it touches (known when the grid holds them all).
      const touched = target === "filter" ? (items.length >= total ? items : null) : items.filter((i) => target.includes(i.id));
      const previous = touched ? new Map(touched.map((i) => [i.id, i.label ?? null] as const)) : null;
      bulkLabel.mutate(
        { target, label },
        {
          onSuccess: ({ updated }) => {
            const message = label ? `${plural(updated, "image")} labeled “${label}”.` : "Labels removed.";
            setSelection(EMPTY_SELECTION);
            refresh();
            if (!previous || previous.size === 0) {
              notifySuccess(message);
              return;
            }
            notifyUndoable({
              id: "bulk-label",
              message,
              undo: async () => {
                await imagesLabelRestore(projectId, previous);
                refresh();
              },
              undoneMessage: `${plural(previous.size, "image")} have their previous labels back.`,
            });
          },
        },
      );
    },
    [bulkLabel, items, projectId, refresh, total],
  );
  // Deleting asks first (DeleteImagesModal): the files themselves are removed, which no
  // toast could bring back.
  const deleteMany = useImagesDelete(projectId, filter);
  const deleteConfirmed = () => {
    if (!confirmDelete) return;
    // From the viewer: it moves on to the next image (or the previous one at the end).
    const fromViewer = viewerId !== null && Array.isArray(confirmDelete.ids) && confirmDelete.ids.includes(viewerId);
    const neighbour = fromViewer ? (items[viewerIndex + 1] ?? items[viewerIndex - 1] ?? null) : null;
    // The viewer leaves the image before it is deleted, so nothing on screen still asks for it
    // (its details or history) once it is gone: no 404s.
    if (Array.isArray(confirmDelete.ids)) setDeleting(new Set(confirmDelete.ids));
    if (fromViewer) setParam({ image: neighbour ? String(neighbour.id) : null }, true);
    deleteMany.mutate(confirmDelete.ids, {
      onSuccess: (n) => {
        notifySuccess(`${plural(n, "image")} deleted.`);
        setSelection(EMPTY_SELECTION);
        setConfirmDelete(null);
        refresh();
      },
    });
  };

  /** Labels the selection when several images are selected, otherwise the image at `index`. */
  const assign = useCallback(
    (index: number, label: string | null) => {
      if (selection.allInFilter || selection.selected.size > 1) {
        labelMany(selectionTarget(selection), label);
        return;
      }
      const image = items[index];
      if (image && image.label !== label) labelOne.mutate({ image, label });
    },
    [labelMany, items, labelOne, selection],
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

  const targetFocus = kb.focus >= 0 ? kb.focus : -1;
  const canAssign = selectedCount > 0 || targetFocus >= 0;
  const assignFromButton = (label: string | null) => {
    if (selectedCount > 1 || selection.allInFilter) assign(-1, label);
    else if (selection.selected.size === 1) assign(ids.indexOf([...selection.selected][0]), label);
    else if (targetFocus >= 0) assign(targetFocus, label);
  };

  // --- render -----------------------------------------------------------------------------
  return (
    <Stack gap="lg">
      <UploadCard projectId={projectId} labels={labels} open={uploadOpen} onToggle={() => setUploadOpen((o) => !o)} />

      <Grid gutter="lg">
        <Grid.Col span={{ base: 12, md: 9 }}>
          <Card padding="md">
            <Stack gap="sm">
              <FilenameSearch value={filename} onChange={(v) => setParam({ filename: v || null, image: null }, true)} />
              <LabelToolbar
                labels={labels}
                selectedCount={selectedCount}
                canAssign={canAssign}
                total={total}
                filtered={filtered}
                fetching={pages.isFetching && !pages.isPending}
                allInFilter={selection.allInFilter}
                onAssign={assignFromButton}
                onShowShortcuts={() => setKb((s) => ({ ...s, helpOpen: true }))}
                onSelectAll={() => setSelection(selectAllInFilter())}
                onClearSelection={() => setSelection(EMPTY_SELECTION)}
                onDelete={() => setConfirmDelete({ ids: selectionTarget(selection), count: selectedCount })}
              />
              <DatasetGrid
                state={pages.isPending ? "pending" : pages.isError ? "error" : "success"}
                error={pages.error}
                onRetry={() => pages.refetch()}
                filtered={filtered}
                unlabeled={unlabeled}
                onShowAll={() =>
                  setParam({
                    label: null,
                    unlabeled: null,
                    split: null,
                    filename: null,
                    ...Object.fromEntries(Object.keys(meta).map((k) => [META_PREFIX + k, null])),
                  })
                }
                onAddImages={() => setUploadOpen(true)}
                grid={{
                  items,
                  total,
                  focus: kb.focus,
                  isSelected,
                  labelIndex,
                  hasMore: !!pages.hasNextPage,
                  loadingMore: pages.isFetchingNextPage,
                  onLoadMore: loadMore,
                  onColumns: setColumns,
                  onClick: onThumbClick,
                  onToggle: onThumbToggle,
                  onOpen: (i) => openIndex(i),
                }}
              />
            </Stack>
          </Card>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 3 }}>
          <Stack gap="md">
            <FilterSidebar
              projectId={projectId}
              labels={labels}
              stats={stats.data}
              label={labelParam}
              unlabeled={unlabeled}
              split={split}
              meta={meta}
              onFilter={setFilter}
              onSplit={(v) => setParam({ split: v || null, image: null })}
              onMeta={(column, value) => setParam({ [META_PREFIX + column]: value, image: null })}
            />
            <ClassBalance projectId={projectId} />
          </Stack>
        </Grid.Col>
      </Grid>

      <ImageViewer
        projectId={projectId}
        imageId={viewerId}
        item={viewerIndex >= 0 ? items[viewerIndex] : undefined}
        gone={viewerId !== null && deleting.has(viewerId)}
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

      <DeleteImagesModal
        count={confirmDelete?.count ?? null}
        deleting={deleteMany.isPending}
        onCancel={() => setConfirmDelete(null)}
        onConfirm={deleteConfirmed}
      />
    </Stack>
  );
}

/** Search by file name: typed here, applied (in the URL) once typing pauses. */
function FilenameSearch({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  const [text, setText] = useState(value);
  const [debounced] = useDebouncedValue(text, 300);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  useEffect(() => {
    if (debounced.trim() !== value) onChangeRef.current(debounced.trim());
    // Only a new typed value applies; the URL changing under it (Show all) resets the box below.
  }, [debounced]);
  useEffect(() => {
    if (value === "") setText((t) => (t.trim() === "" ? t : ""));
  }, [value]);
  return (
    <TextInput
      placeholder="Search by file name"
      aria-label="Search by file name"
      leftSection={<IconSearch size={16} />}
      value={text}
      onChange={(e) => setText(e.currentTarget.value)}
      size="sm"
      maw={360}
      data-testid="filename-search"
    />
  );
}
