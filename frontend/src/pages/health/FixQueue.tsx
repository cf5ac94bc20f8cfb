import { Badge, Button, Card, Grid, Group, Modal, ScrollArea, Slider, Stack, Table, Text, UnstyledButton } from "@mantine/core";
import { IconChecks, IconKeyboard, IconMoodHappy } from "@tabler/icons-react";
import { useCallback, useEffect, useMemo, useState } from "react";
import { useDataHealthActions, useImagesById, type HealthReport } from "../../api/hooks";
import type { ImageItem } from "../../api/types";
import { EmptyState } from "../../components/States";
import { notifyUndoable, UNDO_MS } from "../../components/UndoToast";
import { isTypingTarget } from "../../lib/keyboard";
import { formatDecimal, plural } from "../../lib/format";
import { notifyError } from "../../lib/notify";
import { FixItemCard, KIND_COLORS, KIND_NAMES } from "./FixItemCard";
import { buildFixQueue, duplicateCopy, groupIds, itemActions, itemImages, QUEUE_SHORTCUTS, queueKeyAction, type FixItem, type QueueAction } from "./queue";
import { useDeferred } from "./useDeferred";

let toastSeq = 0;
const toastId = () => `health-undo-${(toastSeq += 1)}`;

function itemTitle(item: FixItem): string {
  if (item.kind === "label") return `${item.label} → ${item.suggested}`;
  if (item.kind === "duplicate") return `#${item.images[0]} ≈ #${item.images[1]}`;
  return `#${item.image}`;
}

function itemScore(item: FixItem): string {
  return item.kind === "duplicate" ? formatDecimal(item.similarity) : formatDecimal(item.score);
}

/** Accept every suggestion whose score is at least the threshold, with the count before. */
function BulkAccept({ report, onAccept, busy }: { report: HealthReport; onAccept: (min: number) => void; busy: boolean }) {
  const [min, setMin] = useState(0.9);
  const count = report.label_issues.filter((issue) => issue.score >= min).length;
  if (report.label_issues.length === 0) return null;
  return (
    <Card withBorder padding="sm" data-testid="health-bulk">
      <Group justify="space-between" wrap="nowrap" gap="lg">
        <Stack gap={4} style={{ flex: 1 }}>
          <Text size="sm">Accept every suggested label with a score of at least {formatDecimal(min)}</Text>
          <Slider min={0.5} max={1} step={0.01} value={min} onChange={setMin} label={(v) => formatDecimal(v)} aria-label="Lowest score" />
        </Stack>
        <Button
          leftSection={<IconChecks size={16} />}
          disabled={count === 0 || busy}
          onClick={() => onAccept(min)}
          data-testid="health-bulk-accept"
        >
          Accept {plural(count, "suggestion")}
        </Button>
      </Group>
    </Card>
  );
}

/** One queue of everything the report found, sorted by expected impact; keyboard-driven. */
export function FixQueue({ projectId, report }: { projectId: number; report: HealthReport }) {
  const actions = useDataHealthActions(projectId);
  const defer = useDeferred(UNDO_MS);
  const [hidden, setHidden] = useState<ReadonlySet<string>>(new Set());
  const [focus, setFocus] = useState(0);
  const [help, setHelp] = useState(false);
  const [busy, setBusy] = useState(false);
  const queue = useMemo(() => buildFixQueue(report, hidden), [report, hidden]);
  const index = Math.min(focus, Math.max(0, queue.length - 1));
  const item: FixItem | undefined = queue[index];

  // The focused item's images, and the next item's, so moving on shows them at once.
  const ids = useMemo(() => [...new Set(queue.slice(index, index + 2).flatMap(itemImages))], [queue, index]);
  const fetched = useImagesById(projectId, ids);
  const images = useMemo(() => {
    const map = new Map<number, ImageItem>();
    for (const q of fetched) if (q.data) map.set(q.data.id, q.data);
    return map;
  }, [fetched]);
  const loading = item ? itemImages(item).some((id) => fetched[ids.indexOf(id)]?.isPending) : false;
  const copyId = item?.kind === "duplicate" ? duplicateCopy(item, (id) => images.get(id)?.split) : undefined;

  const hide = useCallback((key: string) => setHidden((old) => new Set(old).add(key)), []);
  const unhide = useCallback(
    (key: string) =>
      setHidden((old) => {
        const next = new Set(old);
        next.delete(key);
        return next;
      }),
    [],
  );

  const act = useCallback(
    async (action: QueueAction, target: FixItem) => {
      if (!itemActions(target).has(action)) return;
      const key = target.key;
      hide(key);
      try {
        if (action === "accept" && target.kind === "label") {
          await actions.patch(target.image, { label: target.suggested, source: "suggestion" });
          notifyUndoable({
            id: toastId(),
            message: `Labelled “${target.suggested}” (was “${target.label}”).`,
            undoneMessage: `Back to “${target.label}”.`,
            undo: async () => {
              await actions.patch(target.image, { label: target.label, source: "user" });
              unhide(key);
            },
          });
        } else if (action === "test") {
          const moved = target.kind === "duplicate" ? target.images : [target.image];
          const before = moved.map((id) => ({ id, split: images.get(id)?.split ?? "" }));
          for (const id of moved) await actions.patch(id, { split: "test" });
          notifyUndoable({
            id: toastId(),
            message: `Moved ${moved.length === 1 ? "the image" : "both images"} to the test split.`,
            undo: async () => {
              for (const { id, split } of before) await actions.patch(id, { split });
              unhide(key);
            },
          });
        } else if (action === "keep" || action === "delete") {
          const image = target.kind === "duplicate" ? (copyId ?? target.images[1]) : target.image;
          const cancel = defer(key, () =>
            action === "keep"
              ? actions.dismiss(image, target.kind === "label" ? "label" : target.kind)
              : actions.remove([image]),
          );
          notifyUndoable({
            id: toastId(),
            message: action === "keep" ? "Kept as it is: it will not be flagged again." : "Image deleted.",
            undoneMessage: action === "keep" ? "Back in the queue." : "Not deleted.",
            undo: async () => {
              cancel();
              unhide(key);
            },
          });
        }
      } catch (error) {
        unhide(key);
        notifyError(error);
      }
    },
    [actions, copyId, defer, hide, images, unhide],
  );

  const bulkAccept = useCallback(
    async (min: number) => {
      const chosen = report.label_issues.filter((issue) => issue.score >= min && !hidden.has(`label:${issue.image}`));
      setBusy(true);
      try {
        let updated = 0;
        for (const [label, group] of groupIds(chosen, (i) => i.suggested, (i) => i.image)) {
          updated += await actions.bulkLabel(group, label, "suggestion");
        }
        for (const issue of chosen) hide(`label:${issue.image}`);
        notifyUndoable({
          id: toastId(),
          message: `Accepted ${plural(updated, "suggested label")}.`,
          undoneMessage: "The previous labels are back.",
          undo: async () => {
            for (const [label, group] of groupIds(chosen, (i) => i.label, (i) => i.image)) {
              await actions.bulkLabel(group, label, "user");
            }
            for (const issue of chosen) unhide(`label:${issue.image}`);
          },
        });
      } catch (error) {
        notifyError(error);
      } finally {
        setBusy(false);
      }
    },
    [actions, hidden, hide, report.label_issues, unhide],
  );

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (isTypingTarget(event.target)) return;
      const action = queueKeyAction(event);
      if (!action) return;
      if (action === "help") setHelp((open) => !open);
      else if (action === "next") setFocus(Math.min(index + 1, Math.max(0, queue.length - 1)));
      else if (action === "previous") setFocus(Math.max(0, index - 1));
      else if (item && !busy) void act(action, item);
      else return;
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [act, busy, index, item, queue.length]);

  if (!item) {
    return (
      <EmptyState icon={<IconMoodHappy size={32} />} title="Nothing to fix" testId="health-queue-empty">
        No likely wrong labels, near-duplicates or strangers were found (or you have handled them all). Bakehouse checks again
        after every training.
      </EmptyState>
    );
  }

  return (
    <Stack gap="md" data-testid="health-queue">
      <BulkAccept report={report} onAccept={(min) => void bulkAccept(min)} busy={busy} />
      <Grid gutter="md">
        <Grid.Col span={{ base: 12, md: 4 }}>
          <Card withBorder padding={0}>
            <Group justify="space-between" px="sm" py={6}>
              <Text size="sm" fw={500}>
                {plural(queue.length, "item")} to look at
              </Text>
              <Button size="compact-xs" variant="subtle" leftSection={<IconKeyboard size={14} />} onClick={() => setHelp(true)}>
                Shortcuts
              </Button>
            </Group>
            <ScrollArea.Autosize mah={560}>
              {queue.map((entry, i) => (
                <UnstyledButton
                  key={entry.key}
                  onClick={() => setFocus(i)}
                  w="100%"
                  px="sm"
                  py={6}
                  bg={i === index ? "blue.0" : undefined}
                  data-testid="health-queue-row"
                  data-key={entry.key}
                  aria-current={i === index}
                >
                  <Group justify="space-between" wrap="nowrap" gap="xs">
                    <Group gap="xs" wrap="nowrap" style={{ minWidth: 0 }}>
                      <Badge size="xs" variant="light" color={KIND_COLORS[entry.kind]}>
                        {KIND_NAMES[entry.kind]}
                      </Badge>
                      <Text size="xs" truncate>
                        {itemTitle(entry)}
                      </Text>
                    </Group>
                    <Text size="xs" c="dimmed">
                      {itemScore(entry)}
                    </Text>
                  </Group>
                </UnstyledButton>
              ))}
            </ScrollArea.Autosize>
          </Card>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 8 }}>
          <FixItemCard projectId={projectId} item={item} images={images} loading={loading} copyId={copyId} busy={busy} onAction={(a) => void act(a, item)} />
        </Grid.Col>
      </Grid>
      <Modal opened={help} onClose={() => setHelp(false)} title="Keyboard shortcuts">
        <Table>
          <Table.Tbody>
            {QUEUE_SHORTCUTS.map((s) => (
              <Table.Tr key={s.keys}>
                <Table.Td>
                  <Text ff="monospace" size="sm">
                    {s.keys}
                  </Text>
                </Table.Td>
                <Table.Td>{s.action}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Modal>
    </Stack>
  );
}
