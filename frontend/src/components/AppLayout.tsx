import {
  Anchor,
  AppShell,
  Avatar,
  Badge,
  Box,
  Container,
  Group,
  Menu,
  Text,
  Tooltip,
  UnstyledButton,
} from "@mantine/core";
import { IconBook, IconChevronDown, IconFolders, IconLogout, IconPlus, IconServer, IconUser } from "@tabler/icons-react";
import { Link, Outlet, useMatch, useNavigate } from "react-router";
import { useHealth, useLogout, useMe, useProjects } from "../api/hooks";
import { Logo } from "./Logo";

function HealthBadge() {
  const health = useHealth();
  if (health.isPending) return null;
  const data = health.data;
  if (health.isError || !data || data.status !== "ok") {
    return (
      <Tooltip label={data?.message ?? "Some parts of Bakehouse are not answering. Training and imports may wait."}>
        <Badge color="red" variant="light" data-testid="health-badge">
          Service problem
        </Badge>
      </Tooltip>
    );
  }
  if (data.workers === 0) {
    return (
      <Tooltip label="No background worker is running, so training and imports will wait in the queue. Start Bakehouse with `make up`.">
        <Badge color="yellow" variant="light" data-testid="health-badge">
          No workers
        </Badge>
      </Tooltip>
    );
  }
  return null;
}

function ProjectSwitcher({ projectId }: { projectId: number }) {
  const projects = useProjects();
  const navigate = useNavigate();
  const current = projects.data?.find((p) => p.id === projectId);
  return (
    <Menu position="bottom-start" width={280} shadow="md">
      <Menu.Target>
        <UnstyledButton data-testid="project-switcher" aria-label="Switch project">
          <Group gap={4} wrap="nowrap">
            <Text fw={600} truncate maw={{ base: 170, sm: 260 }}>
              {current?.name ?? "Project"}
            </Text>
            <IconChevronDown size={16} />
          </Group>
        </UnstyledButton>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Label>Your projects</Menu.Label>
        {(projects.data ?? []).slice(0, 20).map((p) => (
          <Menu.Item key={p.id} onClick={() => navigate(`/projects/${p.id}/dataset`)} fw={p.id === projectId ? 700 : 400}>
            {p.name}
          </Menu.Item>
        ))}
        <Menu.Divider />
        <Menu.Item leftSection={<IconFolders size={16} />} onClick={() => navigate("/")}>
          All projects
        </Menu.Item>
        <Menu.Item leftSection={<IconPlus size={16} />} onClick={() => navigate("/?new=1")}>
          New project
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}

export function AppLayout() {
  const me = useMe();
  const navigate = useNavigate();
  const match = useMatch("/projects/:projectId/*");
  const projectId = match ? Number(match.params.projectId) : null;
  const logout = useLogout({ onSuccess: () => navigate("/login") });

  return (
    <AppShell header={{ height: 60 }} padding={0}>
      <AppShell.Header>
        <Container size="xl" h="100%">
          <Group h="100%" justify="space-between" wrap="nowrap">
            {/* Shrinks (the project name truncates) so the right side stays whole on a phone. */}
            <Group gap="sm" wrap="nowrap" style={{ minWidth: 0, flexShrink: 1 }}>
              <Anchor component={Link} to="/" underline="never" c="inherit" aria-label="Bakehouse home">
                <Group gap={8} wrap="nowrap">
                  <Logo size={30} />
                  <Text fw={750} size="lg" visibleFrom="xs">
                    Bakehouse
                  </Text>
                </Group>
              </Anchor>
              {projectId !== null && Number.isFinite(projectId) && (
                <>
                  <Text c="dimmed" size="lg">
                    /
                  </Text>
                  <ProjectSwitcher projectId={projectId} />
                </>
              )}
            </Group>
            <Group gap="sm" wrap="nowrap" style={{ flexShrink: 0 }} data-testid="header-right">
              <HealthBadge />
              <Anchor component={Link} to="/guide" size="sm" c="dimmed" data-testid="nav-guide" aria-label="Guide">
                <Group gap={4} wrap="nowrap">
                  <IconBook size={18} />
                  <Text size="sm" visibleFrom="xs">
                    Guide
                  </Text>
                </Group>
              </Anchor>
              <Menu position="bottom-end" width={220} shadow="md">
                <Menu.Target>
                  <UnstyledButton aria-label="Account menu" data-testid="user-menu">
                    <Group gap={6} wrap="nowrap">
                      <Avatar size={32} radius="xl" color="crust">
                        {me.data?.username.slice(0, 1).toUpperCase() ?? <IconUser size={16} />}
                      </Avatar>
                      <Text size="sm" visibleFrom="sm">
                        {me.data?.username}
                      </Text>
                    </Group>
                  </UnstyledButton>
                </Menu.Target>
                <Menu.Dropdown>
                  <Menu.Label>{me.data?.email || me.data?.username}</Menu.Label>
                  <Menu.Item component={Link} to="/" leftSection={<IconFolders size={16} />}>
                    Projects
                  </Menu.Item>
                  <Menu.Item component={Link} to="/guide" leftSection={<IconBook size={16} />}>
                    Guide
                  </Menu.Item>
                  <Menu.Item component="a" href="/api/docs/" target="_blank" leftSection={<IconUser size={16} />}>
                    API reference
                  </Menu.Item>
                  {me.data?.is_staff && (
                    <Menu.Item component={Link} to="/system" leftSection={<IconServer size={16} />} data-testid="nav-system">
                      System
                    </Menu.Item>
                  )}
                  <Menu.Divider />
                  <Menu.Item
                    color="red"
                    leftSection={<IconLogout size={16} />}
                    onClick={() => logout.mutate()}
                    data-testid="logout"
                  >
                    Log out
                  </Menu.Item>
                </Menu.Dropdown>
              </Menu>
            </Group>
          </Group>
        </Container>
      </AppShell.Header>
      <AppShell.Main>
        <Box bg="var(--mantine-color-gray-0)" mih="calc(100vh - 60px)">
          <Outlet />
        </Box>
      </AppShell.Main>
    </AppShell>
  );
}
