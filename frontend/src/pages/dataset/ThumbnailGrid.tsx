import { ActionIcon, Badge, Checkbox, Skeleton } from "@mantine/core";
import { useElementSize } from "@mantine/hooks";
import { IconMaximize } from "@tabler/icons-react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useEffect, useRef, type MouseEvent } from "react";
import type { ImageItem } from "../../api/types";
import { labelColor } from "../../lib/format";

export const GAP = 8;
export const MIN_THUMB = 132;

/** Columns that fit a grid `width` pixels wide with thumbnails at least MIN_THUMB wide. */
export function columnsFor(width: number, min = MIN_THUMB, gap = GAP): number {
  if (!Number.isFinite(width) || width <= 0) return 1;
  return Math.max(1, Math.floor((width + gap) / (min + gap)));
}

interface ThumbProps {
  item: ImageItem;
  index: number;
  size: number;
  selected: boolean;
  focused: boolean;
  labelIndex: number;
  onClick: (index: number, event: MouseEvent) => void;
  onToggle: (index: number) => void;
  onOpen: (index: number) => void;
}

const Thumb = memo(function Thumb({ item, index, size, selected, focused, labelIndex, onClick, onToggle, onOpen }: ThumbProps) {
  return (
    <div
      className="thumb"
      style={{ width: size, height: size }}
      data-testid="thumbnail"
      data-image-id={item.id}
      data-label={item.label ?? ""}
      data-selected={selected}
      data-focused={focused}
      role="gridcell"
      aria-selected={selected}
      aria-label={`${item.filename}, ${item.label ? `label ${item.label}` : "unlabeled"}`}
      onClick={(e) => onClick(index, e)}
      onDoubleClick={() => onOpen(index)}
      onMouseDown={(e) => {
        // Shift-click would otherwise select the page's text.
        if (e.shiftKey) e.preventDefault();
      }}
    >
      <img src={item.thumbnail_url ?? undefined} alt={item.filename} loading="lazy" decoding="async" draggable={false} />
      <Checkbox
        className="thumb-check"
        size="sm"
        checked={selected}
        aria-label={`Select ${item.filename}`}
        onClick={(e) => e.stopPropagation()}
        onChange={() => onToggle(index)}
        data-testid="thumbnail-checkbox"
      />
      <ActionIcon
        className="thumb-open"
        size="sm"
        variant="white"
        color="dark"
        aria-label={`Open ${item.filename}`}
        onClick={(e) => {
          e.stopPropagation();
          onOpen(index);
        }}
      >
        <IconMaximize size={14} />
      </ActionIcon>
      <Badge
        className="thumb-label"
        size="sm"
        radius="sm"
        variant="filled"
        color={item.label ? labelColor(item.label, labelIndex) : "gray"}
        style={{ opacity: item.label ? 1 : 0.85 }}
      >
        {item.label ?? "unlabeled"}
      </Badge>
    </div>
  );
});

export interface ThumbnailGridProps {
  items: ImageItem[];
  total: number;
  focus: number;
  isSelected: (id: number) => boolean;
  labelIndex: (label: string | null) => number;
  hasMore: boolean;
  loadingMore: boolean;
  onLoadMore: () => void;
  onColumns: (columns: number) => void;
  onClick: (index: number, event: MouseEvent) => void;
  onToggle: (index: number) => void;
  onOpen: (index: number) => void;
  height?: string | number;
}

/** A virtualised grid: only the rows on screen are in the DOM, so 50,000 images scroll like 50. */
export function ThumbnailGrid(props: ThumbnailGridProps) {
  const { items, total, focus, hasMore, loadingMore, onLoadMore, onColumns } = props;
  const { ref: sizeRef, width } = useElementSize();
  const scrollRef = useRef<HTMLDivElement>(null);
  const columns = columnsFor(width);
  const size = width > 0 ? Math.floor((width - GAP * (columns - 1)) / columns) : MIN_THUMB;
  const rowHeight = size + GAP;
  const count = Math.max(total, items.length);
  const rowCount = Math.ceil(count / columns);

  const virtualizer = useVirtualizer({
    count: rowCount,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => rowHeight,
    overscan: 3,
  });

  useEffect(() => onColumns(columns), [columns, onColumns]);
  useEffect(() => virtualizer.measure(), [rowHeight, virtualizer]);

  const virtualRows = virtualizer.getVirtualItems();
  const lastRow = virtualRows.length ? virtualRows[virtualRows.length - 1].index : 0;
  useEffect(() => {
    if (hasMore && !loadingMore && (lastRow + 1) * columns >= items.length - columns * 2) onLoadMore();
  }, [lastRow, columns, items.length, hasMore, loadingMore, onLoadMore]);

  useEffect(() => {
    if (focus >= 0) virtualizer.scrollToIndex(Math.floor(focus / columns), { align: "auto" });
  }, [focus, columns, virtualizer]);

  return (
    <div ref={sizeRef} style={{ width: "100%" }}>
      <div
        ref={scrollRef}
        className="grid-scroller"
        style={{ height: props.height ?? "max(440px, calc(100vh - 330px))", overflowY: "auto", overflowX: "hidden" }}
        role="grid"
        aria-label="Images"
        aria-rowcount={rowCount}
        data-testid="thumbnail-grid"
      >
        <div style={{ height: virtualizer.getTotalSize(), position: "relative", width: "100%" }}>
          {virtualRows.map((row) => {
            const start = row.index * columns;
            return (
              <div
                key={row.key}
                role="row"
                style={{
                  position: "absolute",
                  top: 0,
                  left: 0,
                  width: "100%",
                  height: size,
                  transform: `translateY(${row.start}px)`,
                  display: "flex",
                  gap: GAP,
                }}
              >
                {Array.from({ length: columns }, (_, c) => {
                  const index = start + c;
                  if (index >= count) return null;
                  const item = items[index];
                  if (!item) return <Skeleton key={c} width={size} height={size} radius={8} />;
                  return (
                    <Thumb
                      key={item.id}
                      item={item}
                      index={index}
                      size={size}
                      selected={props.isSelected(item.id)}
                      focused={index === focus}
                      labelIndex={props.labelIndex(item.label)}
                      onClick={props.onClick}
                      onToggle={props.onToggle}
                      onOpen={props.onOpen}
                    />
                  );
                })}
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
