import { Alert, Anchor, Button, PasswordInput, Stack, Text, TextInput } from "@mantine/core";
import { IconAlertCircle, IconLock } from "@tabler/icons-react";
import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { errorMessage, fieldError } from "../../api/client";
import { useAuthConfig, useSignup } from "../../api/hooks";
import { AuthCard } from "./AuthCard";

export function SignupPage() {
  const config = useAuthConfig();
  const [username, setUsername] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const signup = useSignup({ inlineError: true });

  if (config.data?.signup_enabled === false) {
    return (
      <AuthCard title="Sign-up is closed" subtitle="This Bakehouse does not accept new accounts.">
        <Alert icon={<IconLock size={18} />} variant="light">
          Ask the person who runs it to create an account for you.
        </Alert>
        <Anchor component={Link} to="/login" ta="center" size="sm">
          Back to log in
        </Anchor>
      </AuthCard>
    );
  }

  const submit = (event: FormEvent) => {
    event.preventDefault();
    signup.mutate({ username: username.trim(), password, email: email.trim() || undefined });
  };

  return (
    <AuthCard title="Create your account" subtitle="It takes a few seconds. Your projects stay on this server.">
      <form onSubmit={submit} data-testid="signup-form">
        <Stack gap="sm">
          {signup.isError && !fieldError(signup.error, "username") && !fieldError(signup.error, "password") && (
            <Alert color="red" variant="light" icon={<IconAlertCircle size={18} />} data-testid="signup-error">
              {errorMessage(signup.error)}
            </Alert>
          )}
          <TextInput
            label="User name"
            autoComplete="username"
            required
            autoFocus
            value={username}
            onChange={(e) => setUsername(e.currentTarget.value)}
            error={fieldError(signup.error, "username")}
            data-testid="signup-username"
          />
          <TextInput
            label="Email"
            description="Optional"
            type="email"
            autoComplete="email"
            value={email}
            onChange={(e) => setEmail(e.currentTarget.value)}
            error={fieldError(signup.error, "email")}
            data-testid="signup-email"
          />
          <PasswordInput
            label="Password"
            description="At least 8 characters; not only numbers, not a common password."
            autoComplete="new-password"
            required
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            error={fieldError(signup.error, "password")}
            data-testid="signup-password"
          />
          <Button type="submit" loading={signup.isPending} fullWidth mt="xs" data-testid="signup-submit">
            Create account
          </Button>
        </Stack>
      </form>
      <Text size="sm" ta="center">
        Already have an account?{" "}
        <Anchor component={Link} to="/login">
          Log in
        </Anchor>
      </Text>
    </AuthCard>
  );
}
