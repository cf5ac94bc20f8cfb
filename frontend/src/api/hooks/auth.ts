/** Who is signed in: log in, sign up, log out; and the platform's health. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, apiClient, call } from "../client";
import type { Me, User } from "../types";
import { keys, mutationMeta, type MutationOptions } from "./keys";

/** The logged-in user, or null when nobody is. Asked of /auth/session/, which answers 200
 * either way: being logged out is a normal state, not a 401 in the console on every page. */
export function useMe() {
  return useQuery({
    queryKey: keys.me,
    queryFn: async ({ signal }): Promise<(User & Partial<Pick<Me, "is_staff">>) | null> => {
      try {
        const session = await call(apiClient.GET("/api/v1/auth/session/", { signal }));
        return session.authenticated && session.user ? session.user : null;
      } catch (error) {
        // An expired API token in the browser is still "nobody", as before.
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return null;
        throw error;
      }
    },
    staleTime: 5 * 60_000,
    retry: 1,
  });
}

export function useAuthConfig() {
  return useQuery({
    queryKey: keys.authConfig,
    queryFn: () => call(apiClient.GET("/api/v1/auth/config/")),
    staleTime: 5 * 60_000,
  });
}

export function useHealth() {
  return useQuery({
    queryKey: keys.health,
    queryFn: () => call(apiClient.GET("/api/v1/health/")),
    refetchInterval: 30_000,
    retry: false,
  });
}

/** Log in; the signed-in user replaces "nobody" in the cache (RedirectIfAuthed then moves on). */
export function useLogin(options: MutationOptions<User> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: { username: string; password: string }) => call(apiClient.POST("/api/v1/auth/login/", { body })),
    meta: mutationMeta(options),
    onSuccess: (user) => {
      queryClient.setQueryData(keys.me, user);
      options.onSuccess?.(user);
    },
  });
}

export function useSignup(options: MutationOptions<User> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: { username: string; password: string; email?: string }) =>
      call(apiClient.POST("/api/v1/auth/signup/", { body })),
    meta: mutationMeta(options),
    onSuccess: ({ id, username, email }) => {
      const user: User = { id, username, email };
      queryClient.setQueryData(keys.me, user);
      options.onSuccess?.(user);
    },
  });
}

/** Log out: every cached answer belonged to that user. */
export function useLogout(options: MutationOptions<null> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => call(apiClient.POST("/api/v1/auth/logout/")),
    onSuccess: () => {
      queryClient.clear();
      queryClient.setQueryData(keys.me, null);
      options.onSuccess?.(null);
    },
  });
}
