import { Autocomplete, Badge, Button, Card, Group, Image, SegmentedControl, SimpleGrid, Stack, Text } from "@mantine/core";
import { useElementSize } from "@mantine/hooks";
import { IconMap, IconTag, IconTrash } from "@tabler/icons-react";
import { useCallback, useEffect, useMemo, useRef, useState, type PointerEvent } from "react";
import { useDataHealthActions, useEmbeddingMap, useImagesById, useLabels, type MapPoint } from "../../api/hooks";
import { EmptyState, ErrorState, PageLoader } from "../../components/States";
import { notifyUndoable, UNDO_MS } from "../../components/UndoToast";
import { plural } from "../../lib/format";
import { notifyError } from "../../lib/notify";
import {
  colorKey,
  colorOf,
  isTinyPath,
  nearestPoint,
  pointsInPolygon,
  pointsInRect,
  toPixel,
  type ColorBy,
  type Pixel,
  type Rect,
} from "./mapGeometry";
import { groupIds } from "./queue";
import { useDeferred } from "./useDeferred";

const HEIGHT = 520;
// A lasso vertex is kept once the pointer has moved this far (pixels) from the last one.
const LASSO_STEP = 3;
let toastSeq = 0;

type Tool = "box" | "lasso";

function draw(
  canvas: HTMLCanvasElement,
  points: readonly MapPoint[],
  by: ColorBy,
  selected: ReadonlySet<number>,
  rect: Rect | null,
  lasso: readonly Pixel[] | null,
) {
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  // One path per colour: fast enough for tens of thousands of points.
  const byColor = new Map<string, MapPoint[]>();
  for (const p of points) {
    const color = colorOf(colorKey(p, by), by);
    const list = byColor.get(color);
    if (list) list.push(p);
    else byColor.set(color, [p]);
  }
  for (const [color, list] of byColor) {
    ctx.fillStyle = color;
    ctx.beginPath();
    for (const p of list) {
      const x = toPixel(p.x, width);
      const y = toPixel(p.y, height, true);
      ctx.moveTo(x + 3, y);
      ctx.arc(x, y, 3, 0, Math.PI * 2);
    }
    ctx.fill();
  }
  if (selected.size) {
    ctx.strokeStyle = "#212529";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    for (const p of points) {
      if (!selected.has(p.image)) continue;
      const x = toPixel(p.x, width);
      const y = toPixel(p.y, height, true);
      ctx.moveTo(x + 5, y);
      ctx.arc(x, y, 5, 0, Math.PI * 2);
    }
    ctx.stroke();
  }
  if (rect) {
    ctx.strokeStyle = "#1c7ed6";
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(rect.x0, rect.y0, rect.x1 - rect.x0, rect.y1 - rect.y0);
    ctx.setLineDash([]);
  }
  if (lasso && lasso.length > 1) {
    ctx.beginPath();
    ctx.moveTo(lasso[0].x, lasso[0].y);
    for (const p of lasso.slice(1)) ctx.lineTo(p.x, p.y);
    ctx.closePath();
    ctx.fillStyle = "rgba(28, 126, 214, 0.08)";
    ctx.fill();
    ctx.strokeStyle = "#1c7ed6";
    ctx.setLineDash([4, 3]);
    ctx.stroke();
    ctx.setLineDash([]);
  }
}

/**
 * Every image on a 2-D projection of its embedding, coloured by label, prediction or health
 * issue. Drag a rectangle or draw a free-hand lasso around points (or click one) to select
 * them, shift to add to the selection, then label or delete the selection;
 * before any model, the groups of look-alike unlabelled images are listed to label at once.
 */
export function MapPanel({ projectId }: { projectId: number }) {
  const map = useEmbeddingMap(projectId);
  const labels = useLabels(projectId);
  const actions = useDataHealthActions(projectId);
  const defer = useDeferred(UNDO_MS);
  const [by, setBy] = useState<ColorBy>("label");
  const [selected, setSelected] = useState<ReadonlySet<number>>(new Set());
  const [rect, setRect] = useState<Rect | null>(null);
  const [tool, setTool] = useState<Tool>("box");
  const [lasso, setLasso] = useState<Pixel[] | null>(null);
  // The shape being drawn, read by the pointer handlers. State alone would lag: several
  // pointer events can arrive before React renders again (a busy machine, a fast hand),
  // and each would extend (or select from) a stale copy, dropping vertices.
  const drawing = useRef<{ rect: Rect | null; lasso: Pixel[] | null }>({ rect: null, lasso: null });
  const [name, setName] = useState("");
  const [deleting, setDeleting] = useState<ReadonlySet<number>>(new Set());
  const { ref: boxRef, width } = useElementSize();
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const points = useMemo(() => (map.data?.points ?? []).filter((p) => !deleting.has(p.image)), [map.data, deleting]);
  const hasModel = points.some((p) => p.predicted !== undefined);

  useEffect(() => {
    if (canvasRef.current) draw(canvasRef.current, points, by, selected, rect, lasso);
  }, [points, by, selected, rect, lasso, width]);

  const legend = useMemo(() => {
    const counts = new Map<string, number>();
    for (const p of points) counts.set(colorKey(p, by), (counts.get(colorKey(p, by)) ?? 0) + 1);
    return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
  }, [points, by]);

  const preview = useImagesById(projectId, [...selected].slice(0, 8));

  const position = (event: PointerEvent<HTMLCanvasElement>) => {
    // In the canvas's own pixels (what the points are drawn in): its box on screen may be
    // scaled a little (borders, rounding of the container's width).
    const canvas = event.currentTarget;
    const box = canvas.getBoundingClientRect();
    const sx = box.width ? canvas.width / box.width : 1;
    const sy = box.height ? canvas.height / box.height : 1;
    return { x: (event.clientX - box.left) * sx, y: (event.clientY - box.top) * sy };
  };
  const onDown = (event: PointerEvent<HTMLCanvasElement>) => {
    const { x, y } = position(event);
    event.currentTarget.setPointerCapture?.(event.pointerId);
    drawing.current = tool === "lasso" ? { rect: null, lasso: [{ x, y }] } : { rect: { x0: x, y0: y, x1: x, y1: y }, lasso: null };
    setLasso(drawing.current.lasso);
    setRect(drawing.current.rect);
  };
  const onMove = (event: PointerEvent<HTMLCanvasElement>) => {
    const { x, y } = position(event);
    const shape = drawing.current;
    if (shape.lasso) {
      const last = shape.lasso[shape.lasso.length - 1];
      if (Math.hypot(x - last.x, y - last.y) < LASSO_STEP) return;
      shape.lasso = [...shape.lasso, { x, y }];
      setLasso(shape.lasso);
    } else if (shape.rect) {
      shape.rect = { ...shape.rect, x1: x, y1: y };
      setRect(shape.rect);
    }
  };
  const onUp = (event: PointerEvent<HTMLCanvasElement>) => {
    const canvas = canvasRef.current;
    const drawn = drawing.current;
    drawing.current = { rect: null, lasso: null };
    // The release's position ends the shape, even where no move event reported it.
    const end = position(event);
    const last = drawn.lasso?.[drawn.lasso.length - 1];
    const outline = drawn.lasso && last && Math.hypot(end.x - last.x, end.y - last.y) >= LASSO_STEP ? [...drawn.lasso, end] : drawn.lasso;
    const box = drawn.rect ? { ...drawn.rect, x1: end.x, y1: end.y } : null;
    // The drawn shape as a path: the lasso's vertices, or the rectangle's two corners.
    const path = outline ?? (box ? [{ x: box.x0, y: box.y0 }, { x: box.x1, y: box.y1 }] : null);
    if (canvas && path) {
      const ids = isTinyPath(path)
        ? [nearestPoint(points, path[0].x, path[0].y, canvas.width, canvas.height)].filter((id): id is number => id !== null)
        : outline
          ? pointsInPolygon(points, outline, canvas.width, canvas.height)
          : box
            ? pointsInRect(points, box, canvas.width, canvas.height)
            : [];
      // Shift adds to the selection (several lassos around scattered groups).
      setSelected((old) => new Set(event.shiftKey ? [...old, ...ids] : ids));
    }
    setRect(null);
    setLasso(null);
  };

  const cancel = () => {
    drawing.current = { rect: null, lasso: null };
    setRect(null);
    setLasso(null);
  };

  const labelSelection = useCallback(async () => {
    const label = name.trim();
    if (!label || selected.size === 0) return;
    const chosen = points.filter((p) => selected.has(p.image));
    try {
      const updated = await actions.bulkLabel(
        chosen.map((p) => p.image),
        label,
        "user",
      );
      toastSeq += 1;
      notifyUndoable({
        id: `map-${toastSeq}`,
        message: `Labelled ${plural(updated, "image")} “${label}”.`,
        undo: async () => {
          for (const [previous, ids] of groupIds(chosen, (p) => p.label ?? "", (p) => p.image)) {
            await actions.bulkLabel(ids, previous || null, "user");
          }
        },
      });
      setSelected(new Set());
    } catch (error) {
      notifyError(error);
    }
  }, [actions, name, points, selected]);

  const deleteSelection = useCallback(() => {
    const ids = [...selected];
    if (ids.length === 0) return;
    setDeleting((old) => new Set([...old, ...ids]));
    setSelected(new Set());
    toastSeq += 1;
    const cancel = defer(`map-delete-${toastSeq}`, () => actions.remove(ids));
    notifyUndoable({
      id: `map-${toastSeq}`,
      message: `${plural(ids.length, "image")} deleted.`,
      undoneMessage: "Not deleted.",
      undo: async () => {
        cancel();
        setDeleting((old) => new Set([...old].filter((id) => !ids.includes(id))));
      },
    });
  }, [actions, defer, selected]);

  if (map.isPending) return <PageLoader />;
  if (map.isError) return <ErrorState error={map.error} onRetry={() => map.refetch()} />;
  if (map.data.status === "none" || points.length === 0) {
    return (
      <EmptyState icon={<IconMap size={32} />} title="No map yet" testId="map-empty">
        The map places every image by how it looks once its embedding is computed, which starts as soon as images are
        uploaded.
      </EmptyState>
    );
  }

  const clusters = map.data.clusters ?? [];
  return (
    <Stack gap="md" data-testid="map-panel">
      <Group justify="space-between">
        <SegmentedControl
          value={by}
          onChange={(v) => setBy(v as ColorBy)}
          data={[
            { value: "label", label: "Label" },
            { value: "prediction", label: "Prediction", disabled: !hasModel },
            { value: "issue", label: "Issue", disabled: !hasModel },
          ]}
        />
        <Group gap="sm">
          <SegmentedControl
            size="xs"
            value={tool}
            onChange={(v) => setTool(v as Tool)}
            data={[
              { value: "box", label: "Box" },
              { value: "lasso", label: "Lasso" },
            ]}
            aria-label="Selection tool"
            data-testid="map-tool"
          />
          <Text size="sm" c="dimmed">
            {plural(points.length, "image")}
            {map.data.status === "partial" ? ` · ${plural(map.data.missing, "image")} still being placed` : ""} ·{" "}
            {tool === "lasso" ? "draw around points to select" : "drag to select"}, shift to add
          </Text>
        </Group>
      </Group>
      <Group gap="xs">
        {legend.map(([key, count]) => (
          <Badge key={key} variant="dot" color={colorOf(key, by)} size="sm">
            {key} · {count}
          </Badge>
        ))}
      </Group>
      <Card withBorder padding={0} ref={boxRef}>
        <canvas
          ref={canvasRef}
          width={Math.max(1, Math.floor(width))}
          height={HEIGHT}
          style={{ display: "block", cursor: "crosshair", touchAction: "none" }}
          onPointerDown={onDown}
          onPointerMove={onMove}
          onPointerUp={onUp}
          onPointerCancel={cancel}
          data-testid="map-canvas"
          aria-label="Embedding map"
        />
      </Card>
      {selected.size > 0 && (
        <Card withBorder padding="sm" data-testid="map-selection">
          <Group justify="space-between" wrap="nowrap">
            <Text size="sm" fw={500}>
              {plural(selected.size, "image")} selected
            </Text>
            <Group gap="xs" wrap="nowrap">
              <Autocomplete
                size="xs"
                placeholder="Label"
                aria-label="Label for the selection"
                data={(labels.data ?? []).map((l) => l.name)}
                value={name}
                onChange={setName}
              />
              <Button size="xs" leftSection={<IconTag size={14} />} disabled={!name.trim()} onClick={() => void labelSelection()}>
                Label
              </Button>
              <Button size="xs" color="red" variant="light" leftSection={<IconTrash size={14} />} onClick={deleteSelection}>
                Delete
              </Button>
              <Button size="xs" variant="subtle" onClick={() => setSelected(new Set())}>
                Clear
              </Button>
            </Group>
          </Group>
          <SimpleGrid cols={8} mt="xs" spacing={4}>
            {preview.map((q, i) => (q.data ? <Image key={q.data.id} src={q.data.thumbnail_url} alt={q.data.filename} radius="sm" /> : <div key={i} />))}
          </SimpleGrid>
        </Card>
      )}
      {clusters.length > 0 && (
        <Stack gap="xs" data-testid="map-clusters">
          <Text fw={500}>Groups of look-alike unlabelled images</Text>
          <Text size="sm" c="dimmed">
            Select a group, give it a label in one go, then fix the few strays on the map.
          </Text>
          <SimpleGrid cols={{ base: 2, md: 4 }}>
            {clusters.map((cluster) => (
              <ClusterCard
                key={cluster.id}
                projectId={projectId}
                cluster={cluster}
                onSelect={() => setSelected(new Set(points.filter((p) => p.cluster === cluster.id).map((p) => p.image)))}
              />
            ))}
          </SimpleGrid>
        </Stack>
      )}
    </Stack>
  );
}

function ClusterCard({ projectId, cluster, onSelect }: { projectId: number; cluster: { id: number; size: number; sample: number[] }; onSelect: () => void }) {
  const sample = useImagesById(projectId, cluster.sample.slice(0, 4));
  return (
    <Card withBorder padding="xs" data-testid="map-cluster">
      <SimpleGrid cols={4} spacing={2}>
        {sample.map((q, i) => (q.data ? <Image key={q.data.id} src={q.data.thumbnail_url} alt={q.data.filename} radius="xs" /> : <div key={i} />))}
      </SimpleGrid>
      <Group justify="space-between" mt="xs">
        <Text size="sm">
          Group {cluster.id + 1} · {plural(cluster.size, "image")}
        </Text>
        <Button size="compact-xs" variant="light" onClick={onSelect}>
          Select
        </Button>
      </Group>
    </Card>
  );
}
