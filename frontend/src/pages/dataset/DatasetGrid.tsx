import { Button } from "@mantine/core";
import { IconFilterOff, IconPhotoPlus } from "@tabler/icons-react";
import type { ComponentProps } from "react";
import { EmptyState, ErrorState, PageLoader } from "../../components/States";
import { ThumbnailGrid } from "./ThumbnailGrid";

/** The grid of thumbnails, or what stands in for it: loading, an error, or an empty project or filter. */
export function DatasetGrid({
  state,
  error,
  onRetry,
  filtered,
  unlabeled,
  onShowAll,
  onAddImages,
  grid,
}: {
  state: "pending" | "error" | "success";
  error: unknown;
  onRetry: () => void;
  filtered: boolean;
  unlabeled: boolean;
  onShowAll: () => void;
  onAddImages: () => void;
  grid: ComponentProps<typeof ThumbnailGrid>;
}) {
  if (state === "pending") return <PageLoader label="Loading images…" />;
  if (state === "error") return <ErrorState error={error} onRetry={onRetry} />;
  if (grid.total === 0 && filtered) {
    return (
      <EmptyState
        icon={<IconFilterOff size={32} />}
        title="No images match this filter"
        testId="grid-empty-filtered"
        action={
          <Button variant="light" onClick={onShowAll}>
            Show all images
          </Button>
        }
      >
        {unlabeled ? "Every image has a label. Nice work." : "Try another label or split."}
      </EmptyState>
    );
  }
  if (grid.total === 0) {
    return (
      <EmptyState
        icon={<IconPhotoPlus size={32} />}
        title="No images yet"
        testId="grid-empty"
        action={
          <Button onClick={onAddImages} leftSection={<IconPhotoPlus size={18} />}>
            Add images
          </Button>
        }
      >
        Drop photos or a zip in the box above. Aim for at least 10 images per label — 50 or more gives a much better model.
      </EmptyState>
    );
  }
  return <ThumbnailGrid {...grid} />;
}
