import {
  Badge,
  Button,
  Card,
  Container,
  Group,
  Progress,
  SimpleGrid,
  Stack,
  Text,
  Title,
  Tooltip,
} from "@mantine/core";
import { IconFolderPlus, IconPhoto, IconPlus, IconTag, IconTarget } from "@tabler/icons-react";
import { Link, useSearchParams } from "react-router";
import { useProjects } from "../../api/hooks";
import type { Project } from "../../api/types";
import { EmptyState, ErrorState, PageLoader } from "../../components/States";
import { formatNumber, formatPercent, formatRelative, metricName, projectAccuracy } from "../../lib/format";
import { NewProjectModal } from "./NewProjectModal";

function ProjectCard({ project }: { project: Project }) {
  const accuracy = projectAccuracy(project);
  const images = project.image_count ?? 0;
  const labeled = project.labeled_count ?? 0;
  const met = accuracy !== null && accuracy >= project.target_value;
  return (
    <Card
      component={Link}
      to={`/projects/${project.id}/dataset`}
      shadow="xs"
      style={{ textDecoration: "none", color: "inherit" }}
      data-testid="project-card"
      data-project-id={project.id}
    >
      <Stack gap="sm" h="100%">
        <Group justify="space-between" align="flex-start" wrap="nowrap">
          <div style={{ minWidth: 0 }}>
            <Text fw={700} size="lg" truncate>
              {project.name}
            </Text>
            <Text size="sm" c="dimmed" lineClamp={2} mih={40}>
              {project.predicts || project.description || "No question written yet."}
            </Text>
          </div>
          {accuracy !== null ? (
            <Tooltip label={`Latest model, ${metricName("accuracy").toLowerCase()} on held-out images`}>
              <Badge size="lg" variant="light" color={met ? "teal" : "orange"} data-testid="project-accuracy">
                {formatPercent(accuracy)}
              </Badge>
            </Tooltip>
          ) : (
            <Badge size="lg" variant="light" color="gray">
              No model yet
            </Badge>
          )}
        </Group>
        <Group gap="lg" mt="auto">
          <Group gap={6}>
            <IconPhoto size={16} color="var(--mantine-color-dimmed)" />
            <Text size="sm">{formatNumber(images)} images</Text>
          </Group>
          <Group gap={6}>
            <IconTag size={16} color="var(--mantine-color-dimmed)" />
            <Text size="sm">{formatNumber(project.label_count ?? 0)} labels</Text>
          </Group>
          <Group gap={6}>
            <IconTarget size={16} color="var(--mantine-color-dimmed)" />
            <Text size="sm">
              {metricName(project.target_metric)} ≥ {formatPercent(project.target_value, 0)}
            </Text>
          </Group>
        </Group>
        <div>
          <Group justify="space-between" mb={4}>
            <Text size="xs" c="dimmed">
              {formatNumber(labeled)} of {formatNumber(images)} labeled
            </Text>
            <Text size="xs" c="dimmed">
              updated {formatRelative(project.updated_at ?? project.created_at)}
            </Text>
          </Group>
          <Progress value={images ? (labeled / images) * 100 : 0} size="sm" />
        </div>
      </Stack>
    </Card>
  );
}

export function ProjectsPage() {
  const projects = useProjects();
  const [params, setParams] = useSearchParams();
  const creating = params.get("new") === "1";
  const openNew = () => setParams({ new: "1" });
  const closeNew = () => setParams({}, { replace: true });

  return (
    <Container size="xl" py="xl">
      <Group justify="space-between" mb="lg">
        <div>
          <Title order={1} size="h2">
            Projects
          </Title>
          <Text c="dimmed" size="sm">
            Each project answers one question about images.
          </Text>
        </div>
        <Button leftSection={<IconPlus size={18} />} onClick={openNew} data-testid="new-project">
          New project
        </Button>
      </Group>
      {projects.isPending ? (
        <PageLoader />
      ) : projects.isError ? (
        <ErrorState error={projects.error} onRetry={() => projects.refetch()} />
      ) : projects.data.length === 0 ? (
        <Card py="xl">
          <EmptyState
            icon={<IconFolderPlus size={32} />}
            title="Create your first project"
            testId="projects-empty"
            action={
              <Button onClick={openNew} leftSection={<IconPlus size={18} />}>
                New project
              </Button>
            }
          >
            Say what you want to predict and which labels the model should choose from. Then upload images, label them and
            press Train.
          </EmptyState>
        </Card>
      ) : (
        <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }} spacing="lg" data-testid="project-list">
          {projects.data.map((project) => (
            <ProjectCard key={project.id} project={project} />
          ))}
        </SimpleGrid>
      )}
      <NewProjectModal opened={creating} onClose={closeNew} />
    </Container>
  );
}
