import { Alert, Badge, Card, Group, Image, Loader, Progress, Stack, Text } from "@mantine/core";
import { Dropzone, IMAGE_MIME_TYPE } from "@mantine/dropzone";
import { IconAlertTriangle, IconPhotoScan } from "@tabler/icons-react";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { apiClient, call, errorMessage } from "../../api/client";
import { useDeploymentTry } from "../../api/hooks";
import { keys } from "../../api/hooks/keys";
import { formatLatency, formatPercent } from "../../lib/format";

/** Drop an image, see what the deployed model says: the same answer other programs get.
 * `liveVersion` is the model version the deployment answers with: when it changes, the last
 * answer (given by another version) is cleared. */
export function TryIt({ slug, liveVersion }: { slug: string; liveVersion?: number }) {
  const [preview, setPreview] = useState<string | null>(null);
  const card = useRef<HTMLDivElement>(null);
  const queryClient = useQueryClient();
  const predict = useDeploymentTry(slug, {
    inlineError: true,
    onSuccess: (answer) => {
      // The log row is written a moment after the answer: the detail waits for it, then the
      // log beside this card is refreshed with it in.
      call(
        apiClient.GET("/api/v1/deployments/{slug}/predictions/{prediction_id}/", {
          params: { path: { slug, prediction_id: answer.id } },
        }),
      )
        .catch(() => undefined)
        .finally(() => queryClient.invalidateQueries({ queryKey: keys.predictionLog(slug) }));
    },
  });
  const { reset } = predict;
  useEffect(() => {
    reset();
    setPreview(null);
  }, [liveVersion, reset]);
  useEffect(
    () => () => {
      if (preview) URL.revokeObjectURL(preview);
    },
    [preview],
  );

  const onDrop = (files: File[]) => {
    const file = files[0];
    if (!file) return;
    setPreview(URL.createObjectURL(file));
    predict.mutate(file);
    // Emptied, so that choosing the same file again is a change and is sent again.
    const input = card.current?.querySelector<HTMLInputElement>('input[type="file"]');
    if (input) input.value = "";
  };
  const result = predict.data;

  return (
    <Card h="100%" data-testid="try-it" ref={card}>
      <Text fw={600}>Try it</Text>
      <Text size="xs" c="dimmed" mb="sm">
        Drop an image to see what the deployed model answers.
      </Text>
      <Group align="stretch" gap="md" wrap="nowrap">
        <Dropzone
          onDrop={onDrop}
          accept={IMAGE_MIME_TYPE}
          multiple={false}
          useFsAccessApi={false}
          w={160}
          h={160}
          p={0}
          data-testid="try-dropzone"
          inputProps={{ "aria-label": "Choose an image to try", ...({ "data-testid": "try-input" } as object) }}
        >
          {preview ? (
            <Image src={preview} alt="Image sent for prediction" w={158} h={158} fit="cover" radius="md" />
          ) : (
            <Stack align="center" justify="center" h={158} gap={4} style={{ pointerEvents: "none" }}>
              <IconPhotoScan size={32} color="var(--mantine-color-dimmed)" />
              <Text size="xs" c="dimmed" ta="center" px="xs">
                Drop or click to choose an image
              </Text>
            </Stack>
          )}
        </Dropzone>
        <Stack gap="xs" style={{ flex: 1, minWidth: 0 }} data-testid="try-result">
          {predict.isPending ? (
            <Group gap="xs" mt="md">
              <Loader size="sm" />
              <Text size="sm">Asking the model…</Text>
            </Group>
          ) : predict.isError ? (
            <Alert color="red" variant="light" icon={<IconAlertTriangle size={18} />}>
              {errorMessage(predict.error)}
            </Alert>
          ) : result ? (
            <>
              <Group gap="xs">
                <Text fw={800} size="xl" data-testid="try-label">
                  {result.prediction.label}
                </Text>
                <Badge variant="light" color={result.uncertain ? "yellow" : "teal"}>
                  {result.uncertain ? "uncertain" : "confident"} · {formatPercent(result.prediction.confidence)}
                </Badge>
              </Group>
              {result.predictions.slice(0, 5).map((p) => (
                <div key={p.label}>
                  <Group justify="space-between">
                    <Text size="xs">{p.label}</Text>
                    <Text size="xs" c="dimmed">
                      {formatPercent(p.confidence)}
                    </Text>
                  </Group>
                  <Progress value={p.confidence * 100} size="sm" color={p.label === result.prediction.label ? "crust" : "gray"} />
                </div>
              ))}
              <Text size="xs" c="dimmed">
                Answered in {formatLatency(result.latency_ms)}
                {result.model_version_number ? ` by model v${result.model_version_number}` : ""}
              </Text>
            </>
          ) : (
            <Text size="sm" c="dimmed" mt="md">
              The label and the confidence for each label appear here.
            </Text>
          )}
        </Stack>
      </Group>
    </Card>
  );
}
