import { Button, Container } from "@mantine/core";
import { IconMapOff } from "@tabler/icons-react";
import { Link } from "react-router";
import { EmptyState } from "../components/States";

export function NotFoundPage() {
  return (
    <Container size="sm" py="xl">
      <EmptyState
        icon={<IconMapOff size={32} />}
        title="Page not found"
        action={
          <Button component={Link} to="/">
            Go to your projects
          </Button>
        }
      >
        There is nothing at this address. It may have been a project that was deleted.
      </EmptyState>
    </Container>
  );
}
