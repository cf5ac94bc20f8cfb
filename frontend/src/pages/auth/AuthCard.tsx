import { Center, Group, Paper, Stack, Text, Title } from "@mantine/core";
import type { ReactNode } from "react";
import { Logo } from "../../components/Logo";

export function AuthCard({ title, subtitle, children }: { title: string; subtitle: ReactNode; children: ReactNode }) {
  return (
    <Center mih="100vh" bg="var(--mantine-color-gray-0)" px="md">
      <Stack w="100%" maw={420} gap="lg">
        <Group justify="center" gap="xs">
          <Logo size={40} />
          <Text fw={800} size="xl">
            Bakehouse
          </Text>
        </Group>
        <Paper withBorder shadow="sm" p="xl" radius="lg">
          <Stack gap="md">
            <div>
              <Title order={2} size="h3">
                {title}
              </Title>
              <Text c="dimmed" size="sm" mt={4}>
                {subtitle}
              </Text>
            </div>
            {children}
          </Stack>
        </Paper>
        <Text c="dimmed" size="xs" ta="center">
          Label images, train a classifier, and serve it as an API — on your own machine.
        </Text>
      </Stack>
    </Center>
  );
}
