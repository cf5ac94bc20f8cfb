import { Alert, Badge, Card, Group, Image, Loader, Progress, Stack, Text } from "@mantine/core";
import { Dropzone, IMAGE_MIME_TYPE } from "@mantine/dropzone";
import { IconAlertTriangle, IconPhotoScan } from "@tabler/icons-react";
import { useEffect, useState } from "react";
import { errorMessage } from "../../api/client";
import { useDeploymentTry } from "../../api/hooks";
import { formatLatency, formatPercent } from "../../lib/format";

/** Drop an image, see what the deployed model says: the same answer other programs get. */
export function TryIt({ slug }: { slug: string }) {
  const [preview, setPreview] = useState<string | null>(null);
  const predict = useDeploymentTry(slug, { inlineError: true });
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
  };
  const result = predict.data;

  return (
    <Card h="100%" data-testid="try-it">
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
