/**
 * For staff: the workers that answer and the queues they read, each queue's length, and the
 * jobs queued or running (refreshed every few seconds). Prometheus reads the same figures,
 * and more, from /metrics.
 */
import { Badge, Card, Code, Container, Grid, Group, Stack, Table, Text, Title } from "@mantine/core";
import { ErrorState, PageLoader } from "../../components/States";
import { formatNumber } from "../../lib/format";
import { useSystem, type SystemStatus } from "./hooks";

function ago(value: string | null | undefined): string {
  if (!value) return "—";
  const seconds = Math.max(0, Math.round((Date.now() - new Date(value).getTime()) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return new Date(value).toLocaleString();
}

function HealthCard({ health }: { health: SystemStatus["health"] }) {
  const color = (value: string) => (value === "ok" ? "teal" : value.startsWith("down") ? "red" : "gray");
  return (
    <Card>
      <Title order={2} size="h4" mb="sm">
        Health
      </Title>
      <Group gap="sm">
        <Badge color={color(health.status)} size="lg" data-testid="system-status">
          {health.status}
        </Badge>
        <Text size="sm">
          Database: <Badge color={color(health.database)}>{health.database}</Badge>
        </Text>
        <Text size="sm">
          Broker: <Badge color={color(health.broker)}>{health.broker}</Badge>
        </Text>
      </Group>
    </Card>
  );
}

function WorkersCard({ data }: { data: SystemStatus }) {
  return (
    <Card>
      <Title order={2} size="h4" mb="sm">
        Workers
      </Title>
      {data.workers.length === 0 ? (
        <Text size="sm" c="red">
          No worker answers: queued jobs wait until one starts.
        </Text>
      ) : (
        <Table verticalSpacing={4} fz="sm" data-testid="system-workers">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Worker</Table.Th>
              <Table.Th>Queues</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {data.workers.map((w) => (
              <Table.Tr key={w.name}>
                <Table.Td>
                  <Code>{w.name}</Code>
                </Table.Td>
                <Table.Td>
                  <Group gap={4}>
                    {w.queues.map((q) => (
                      <Badge key={q} variant="outline">
                        {q}
                      </Badge>
                    ))}
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Card>
  );
}

function QueuesCard({ data }: { data: SystemStatus }) {
  const served = new Set(data.workers.flatMap((w) => w.queues));
  return (
    <Card>
      <Title order={2} size="h4" mb="sm">
        Queues
      </Title>
      {data.queues === null ? (
        <Text size="sm" c="red">
          The broker does not answer: queue lengths are unknown.
        </Text>
      ) : (
        <Table verticalSpacing={4} fz="sm" data-testid="system-queues">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Queue</Table.Th>
              <Table.Th>Waiting</Table.Th>
              <Table.Th>Read by a worker</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {data.queues.map((q) => (
              <Table.Tr key={q.name} data-testid="system-queue">
                <Table.Td>
                  <Code>{q.name}</Code>
                </Table.Td>
                <Table.Td>{formatNumber(q.length)}</Table.Td>
                <Table.Td>{served.has(q.name) ? <Badge color="teal">yes</Badge> : <Badge color="red">no worker</Badge>}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Card>
  );
}

function JobsCard({ data }: { data: SystemStatus }) {
  return (
    <Card>
      <Title order={2} size="h4" mb="sm">
        Jobs queued or running
      </Title>
      {data.jobs.length === 0 ? (
        <Text size="sm" c="dimmed">
          No job is queued or running.
        </Text>
      ) : (
        <Table verticalSpacing={4} fz="sm" data-testid="system-jobs">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Kind</Table.Th>
              <Table.Th>Id</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th>Worker</Table.Th>
              <Table.Th>Attempt</Table.Th>
              <Table.Th>Started</Table.Th>
              <Table.Th>Last heartbeat</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {data.jobs.map((job) => (
              <Table.Tr key={`${job.kind}-${job.id}`} data-testid="system-job">
                <Table.Td>{job.kind}</Table.Td>
                <Table.Td>{job.id}</Table.Td>
                <Table.Td>
                  <Badge color={job.status === "running" ? "blue" : "gray"} variant="light">
                    {job.status}
                  </Badge>
                </Table.Td>
                <Table.Td>
                  <Code>{job.worker || "—"}</Code>
                </Table.Td>
                <Table.Td>{job.attempts}</Table.Td>
                <Table.Td>{ago(job.started_at)}</Table.Td>
                <Table.Td>{ago(job.heartbeat_at)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Card>
  );
}

export default function SystemPage() {
  const system = useSystem();
  if (system.isPending) return <PageLoader />;
  if (system.isError)
    return (
      <Container size="xl" py="xl">
        <ErrorState error={system.error} onRetry={() => system.refetch()} title="Could not load the system's state (staff only)" />
      </Container>
    );
  const data = system.data;
  return (
    <Container size="xl" py="xl">
      <Stack gap="lg" data-testid="system-page">
        <Title order={1} size="h3">
          System
        </Title>
        <HealthCard health={data.health} />
        <Grid gutter="lg">
          <Grid.Col span={{ base: 12, md: 6 }}>
            <WorkersCard data={data} />
          </Grid.Col>
          <Grid.Col span={{ base: 12, md: 6 }}>
            <QueuesCard data={data} />
          </Grid.Col>
        </Grid>
        <JobsCard data={data} />
      </Stack>
    </Container>
  );
}
