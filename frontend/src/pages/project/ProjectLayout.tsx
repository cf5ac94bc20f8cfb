import { Badge, Box, Container, Group, Tabs, Text, Title } from "@mantine/core";
import { IconBrain, IconChartBar, IconPhoto, IconRocket, IconSettings, IconStethoscope } from "@tabler/icons-react";
import { Outlet, useLocation, useNavigate, useParams } from "react-router";
import { ApiError } from "../../api/client";
import { useProject } from "../../api/hooks";
import { ErrorState, PageLoader } from "../../components/States";
import { NotFoundPage } from "../NotFoundPage";
import { formatPercent, metricName, projectAccuracy } from "../../lib/format";
import type { ProjectContext } from "./context";

const TABS = [
  { value: "dataset", label: "Dataset", icon: IconPhoto },
  { value: "train", label: "Train", icon: IconBrain },
  { value: "model", label: "Model", icon: IconChartBar },
  { value: "health", label: "Data health", icon: IconStethoscope },
  { value: "deploy", label: "Deploy", icon: IconRocket },
  { value: "settings", label: "Settings", icon: IconSettings },
] as const;

export function ProjectLayout() {
  const { projectId } = useParams();
  const id = Number(projectId);
  const project = useProject(id);
  const location = useLocation();
  const navigate = useNavigate();
  const tab = location.pathname.split("/")[3] ?? "dataset";

  if (!Number.isFinite(id)) return <NotFoundPage />;
  if (project.isPending) return <PageLoader />;
  if (project.isError) {
    if (project.error instanceof ApiError && project.error.status === 404) return <NotFoundPage />;
    return (
      <Container size="xl" py="xl">
        <ErrorState error={project.error} onRetry={() => project.refetch()} />
      </Container>
    );
  }
  const p = project.data;
  const accuracy = projectAccuracy(p);
  const context: ProjectContext = { project: p };

  return (
    <>
      <Box bg="white" style={{ borderBottom: "1px solid var(--mantine-color-gray-3)" }}>
        <Container size="xl" pt="md">
          <Group justify="space-between" align="flex-end" wrap="wrap" gap="xs">
            <div style={{ minWidth: 0, maxWidth: "100%" }}>
              <Title order={1} size="h3" data-testid="project-title">
                {p.name}
              </Title>
              <Text size="sm" c="dimmed" truncate>
                {p.predicts || "Say what this project predicts in Settings."}
              </Text>
            </div>
            <Group gap="xs" wrap="wrap" data-testid="project-badges">
              <Badge variant="outline" color="gray">
                Target: {metricName(p.target_metric)} ≥ {formatPercent(p.target_value, 0)}
              </Badge>
              {accuracy !== null && (
                <Badge variant="light" color={accuracy >= p.target_value ? "teal" : "orange"}>
                  Latest model {formatPercent(accuracy)}
                </Badge>
              )}
            </Group>
          </Group>
          <Tabs
            value={tab}
            onChange={(value) => value && navigate(`/projects/${id}/${value}`)}
            mt="sm"
            variant="default"
            styles={{ list: { borderBottom: 0 } }}
          >
            <Tabs.List>
              {TABS.map(({ value, label, icon: Icon }) => (
                <Tabs.Tab key={value} value={value} leftSection={<Icon size={16} />} data-testid={`tab-${value}`}>
                  {label}
                </Tabs.Tab>
              ))}
            </Tabs.List>
          </Tabs>
        </Container>
      </Box>
      <Container size="xl" py="lg">
        <Outlet context={context} />
      </Container>
    </>
  );
}
