import { AspectRatio, Badge, Button, Card, Group, Select, SimpleGrid, Skeleton, Slider, Stack, Text } from "@mantine/core";
import { IconChecks, IconTags } from "@tabler/icons-react";
import { useCallback, useEffect, useMemo, useState } from "react";
import { useDataHealthActions, useImagesById, useLabels, useSuggestions, type Suggestion } from "../../api/hooks";
import { EmptyState, ErrorState, PageLoader } from "../../components/States";
import { notifyUndoable } from "../../components/UndoToast";
import { isTypingTarget } from "../../lib/keyboard";
import { formatPercent, plural } from "../../lib/format";
import { notifyError } from "../../lib/notify";
import { expectedErrors, expectedErrorsText, groupIds } from "./queue";

export const SUGGESTION_LIMIT = 60;
const COLUMNS = 4;

let toastSeq = 0;

/**
 * "Label next": unlabelled images the model is least sure about (plus a random few), each
 * with its guess. One key accepts the focused guess; "accept all above X %" says how many of
 * the accepted guesses are probably wrong before anything changes.
 */
export function LabelNext({ projectId }: { projectId: number }) {
  const suggestions = useSuggestions(projectId, SUGGESTION_LIMIT);
  const labels = useLabels(projectId);
  const actions = useDataHealthActions(projectId);
  const [done, setDone] = useState<ReadonlySet<number>>(new Set());
  const [min, setMin] = useState(0.9);
  const [focus, setFocus] = useState(0);
  const [busy, setBusy] = useState(false);
  const list = useMemo(() => (suggestions.data?.results ?? []).filter((s) => !done.has(s.image)), [suggestions.data, done]);
  const images = useImagesById(
    projectId,
    list.map((s) => s.image),
  );
  const index = Math.min(focus, Math.max(0, list.length - 1));
  // Typical images (before the model knows every group) have no guess: the user names them.
  const guessed = list.filter((s): s is Suggestion & { predicted: string; confidence: number } => s.predicted != null && s.confidence != null);
  const above = guessed.filter((s) => s.confidence >= min);

  const mark = useCallback((ids: number[], value: boolean) => {
    setDone((old) => {
      const next = new Set(old);
      for (const id of ids) {
        if (value) next.add(id);
        else next.delete(id);
      }
      return next;
    });
  }, []);

  const labelAs = useCallback(
    async (s: Suggestion, label: string) => {
      setBusy(true);
      mark([s.image], true);
      try {
        await actions.bulkLabel([s.image], label, "user");
        toastSeq += 1;
        notifyUndoable({
          id: `label-next-${toastSeq}`,
          message: `Labelled “${label}”.`,
          undoneMessage: "The label is removed again.",
          undo: async () => {
            await actions.bulkLabel([s.image], null, "user");
            mark([s.image], false);
          },
        });
      } catch (error) {
        mark([s.image], false);
        notifyError(error);
      } finally {
        setBusy(false);
      }
    },
    [actions, mark],
  );

  const accept = useCallback(
    async (chosen: Array<Suggestion & { predicted: string }>) => {
      if (chosen.length === 0) return;
      const ids = chosen.map((s) => s.image);
      setBusy(true);
      mark(ids, true);
      try {
        let updated = 0;
        for (const [label, group] of groupIds(chosen, (s) => s.predicted, (s) => s.image)) {
          updated += await actions.bulkLabel(group, label, "suggestion");
        }
        toastSeq += 1;
        notifyUndoable({
          id: `label-next-${toastSeq}`,
          message:
            chosen.length === 1 ? `Labelled “${chosen[0].predicted}”.` : `Labelled ${plural(updated, "image")} with the model's guess.`,
          undoneMessage: "The labels are removed again.",
          undo: async () => {
            await actions.bulkLabel(ids, null, "user");
            mark(ids, false);
          },
        });
      } catch (error) {
        mark(ids, false);
        notifyError(error);
      } finally {
        setBusy(false);
      }
    },
    [actions, mark],
  );

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (isTypingTarget(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      const moves: Record<string, number> = { ArrowRight: 1, j: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS };
      if (event.key in moves) setFocus(Math.max(0, Math.min(list.length - 1, index + moves[event.key])));
      else if ((event.key === "a" || event.key === "Enter") && list[index]?.predicted != null && !busy)
        void accept([list[index] as Suggestion & { predicted: string }]);
      else return;
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [accept, busy, index, list]);

  if (suggestions.isPending) return <PageLoader />;
  if (suggestions.isError) return <ErrorState error={suggestions.error} onRetry={() => suggestions.refetch()} />;
  if (list.length === 0) {
    return (
      <EmptyState icon={<IconTags size={32} />} title="No images waiting for a label" testId="label-next-empty">
        Suggestions appear as soon as the project has unlabelled images: first the most typical image of each group of
        alike images (so the first labels cover every kind of image), then, once a model is trained, the ones it is least
        sure about.
      </EmptyState>
    );
  }

  return (
    <Stack gap="md" data-testid="label-next">
      <Card withBorder padding="sm">
        <Group justify="space-between" wrap="nowrap" gap="lg">
          <Stack gap={4} style={{ flex: 1 }}>
            <Text size="sm">Accept every guess the model is at least {formatPercent(min, 0)} sure of</Text>
            <Slider min={0.5} max={0.99} step={0.01} value={min} onChange={setMin} label={(v) => formatPercent(v, 0)} aria-label="Lowest confidence" />
            <Text size="sm" c="dimmed" data-testid="label-next-expected-errors">
              {expectedErrorsText(expectedErrors(above), above.length)}
            </Text>
          </Stack>
          <Button
            leftSection={<IconChecks size={16} />}
            disabled={above.length === 0 || busy}
            onClick={() => void accept(above)}
            data-testid="label-next-accept-all"
          >
            Accept {plural(above.length, "guess", "guesses")}
          </Button>
        </Group>
      </Card>
      <Text size="xs" c="dimmed">
        Arrows or j move, <b>a</b> or Enter accepts the highlighted guess. Showing the next {plural(list.length, "image")}.
      </Text>
      <SimpleGrid cols={{ base: 2, sm: 3, md: COLUMNS }}>
        {list.map((s, i) => {
          const image = images[i]?.data;
          return (
            <Card
              key={s.image}
              withBorder
              padding="xs"
              onClick={() => setFocus(i)}
              style={i === index ? { outline: "2px solid var(--mantine-color-blue-5)" } : undefined}
              data-testid="label-next-item"
              data-image-id={s.image}
            >
              <Card.Section>
                <AspectRatio ratio={1}>
                  {image ? (
                    <img src={image.thumbnail_url ?? undefined} alt={image.filename} loading="lazy" style={{ objectFit: "cover" }} />
                  ) : (
                    <Skeleton />
                  )}
                </AspectRatio>
              </Card.Section>
              {s.predicted != null && s.confidence != null ? (
                <>
                  <Group justify="space-between" mt="xs" wrap="nowrap">
                    <Badge variant="light">{s.predicted}</Badge>
                    <Text size="xs" c="dimmed">
                      {formatPercent(s.confidence, 0)} sure
                    </Text>
                  </Group>
                  <Group justify="space-between" mt={6} wrap="nowrap">
                    <Text size="xs" c="dimmed">
                      {s.reason === "random" ? "Picked at random" : "The model is unsure"}
                    </Text>
                    <Button
                      size="compact-xs"
                      variant="light"
                      disabled={busy}
                      onClick={() => void accept([s as Suggestion & { predicted: string }])}
                    >
                      Accept
                    </Button>
                  </Group>
                </>
              ) : (
                <Stack gap={6} mt="xs">
                  <Text size="xs" c="dimmed" data-testid="label-next-typical">
                    Typical of {plural(s.group_size ?? 1, "alike image")}
                  </Text>
                  <Select
                    size="xs"
                    placeholder="Label it…"
                    aria-label="Label this image"
                    data={(labels.data ?? []).map((l) => l.name)}
                    disabled={busy}
                    onChange={(value) => value && void labelAs(s, value)}
                    comboboxProps={{ withinPortal: true }}
                    data-testid="label-next-typical-label"
                  />
                </Stack>
              )}
            </Card>
          );
        })}
      </SimpleGrid>
    </Stack>
  );
}
