import { Alert, Anchor, Button, PasswordInput, Stack, Text, TextInput } from "@mantine/core";
import { IconAlertCircle } from "@tabler/icons-react";
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { errorMessage } from "../../api/client";
import { useAuthConfig, useLogin } from "../../api/hooks";
import { AuthCard } from "./AuthCard";

export function LoginPage() {
  const [params] = useSearchParams();
  const config = useAuthConfig();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  // Setting the user sends RedirectIfAuthed on to ?next=.
  const login = useLogin({ inlineError: true });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    login.mutate({ username: username.trim(), password });
  };
  const next = params.get("next");

  return (
    <AuthCard title="Log in" subtitle="Welcome back. Log in to your projects.">
      <form onSubmit={submit} data-testid="login-form">
        <Stack gap="sm">
          {login.isError && (
            <Alert color="red" variant="light" icon={<IconAlertCircle size={18} />} data-testid="login-error">
              {errorMessage(login.error)}
            </Alert>
          )}
          <TextInput
            label="User name"
            autoComplete="username"
            required
            autoFocus
            value={username}
            onChange={(e) => setUsername(e.currentTarget.value)}
            data-testid="login-username"
          />
          <PasswordInput
            label="Password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            data-testid="login-password"
          />
          <Button type="submit" loading={login.isPending} fullWidth mt="xs" data-testid="login-submit">
            Log in
          </Button>
        </Stack>
      </form>
      {config.data?.signup_enabled !== false && (
        <Text size="sm" ta="center">
          New here?{" "}
          <Anchor component={Link} to={next ? `/signup?next=${encodeURIComponent(next)}` : "/signup"} data-testid="to-signup">
            Create an account
          </Anchor>
        </Text>
      )}
    </AuthCard>
  );
}
