import { Button, Card, Code, CopyButton, Group, Tabs, Text } from "@mantine/core";
import { IconCheck, IconCopy } from "@tabler/icons-react";
import { useState } from "react";
import { curlSnippet, fetchSnippet, KEY_PLACEHOLDER, pythonSnippet } from "../../lib/snippets";

const LANGS = [
  { value: "curl", label: "curl", make: curlSnippet },
  { value: "python", label: "Python (requests)", make: pythonSnippet },
  { value: "js", label: "JavaScript (fetch)", make: fetchSnippet },
] as const;

export function Snippets({ url, apiKey }: { url: string; apiKey: string | null }) {
  const [lang, setLang] = useState<string>("curl");
  return (
    <Card data-testid="snippets">
      <Group justify="space-between" mb="xs">
        <div>
          <Text fw={600}>Call it from your code</Text>
          <Text size="xs" c="dimmed">
            {apiKey
              ? "Filled in with the key you just created."
              : `Replace ${KEY_PLACEHOLDER} with one of your keys. The answer is JSON: the label, its confidence, and every label's score.`}
          </Text>
        </div>
      </Group>
      <Tabs value={lang} onChange={(v) => v && setLang(v)}>
        <Tabs.List>
          {LANGS.map((l) => (
            <Tabs.Tab key={l.value} value={l.value} data-testid={`snippet-tab-${l.value}`}>
              {l.label}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        {LANGS.map((l) => {
          const code = l.make(url, apiKey ?? KEY_PLACEHOLDER);
          return (
            <Tabs.Panel key={l.value} value={l.value} pt="sm">
              <div style={{ position: "relative" }}>
                <Code block data-testid={`snippet-${l.value}`} style={{ fontSize: 13, paddingRight: 90 }}>
                  {code}
                </Code>
                <CopyButton value={code}>
                  {({ copied, copy }) => (
                    <Button
                      size="xs"
                      variant={copied ? "light" : "default"}
                      color={copied ? "teal" : undefined}
                      leftSection={copied ? <IconCheck size={14} /> : <IconCopy size={14} />}
                      onClick={copy}
                      style={{ position: "absolute", top: 8, right: 8 }}
                      data-testid="copy-snippet"
                    >
                      {copied ? "Copied" : "Copy"}
                    </Button>
                  )}
                </CopyButton>
              </div>
            </Tabs.Panel>
          );
        })}
      </Tabs>
    </Card>
  );
}
