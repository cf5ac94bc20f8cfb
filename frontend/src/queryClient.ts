import { MutationCache, QueryCache, QueryClient } from "@tanstack/react-query";
import { ApiError } from "./api/client";
import { keys } from "./api/hooks";
import { notifyError } from "./lib/notify";

/** A query or mutation that answers 401 means the session ended: show the log-in page. */
function onAuthLost(client: QueryClient, error: unknown) {
  if (error instanceof ApiError && error.status === 401) client.setQueryData(keys.me, null);
}

export function createQueryClient(): QueryClient {
  const client: QueryClient = new QueryClient({
    queryCache: new QueryCache({ onError: (error) => onAuthLost(client, error) }),
    mutationCache: new MutationCache({
      onError: (error, _vars, _ctx, mutation) => {
        onAuthLost(client, error);
        // Mutations that show their error inline set meta.inlineError; all others get a toast.
        if (!mutation.meta?.inlineError) notifyError(error);
      },
    }),
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        refetchOnWindowFocus: true,
        retry: (count, error) => {
          if (error instanceof ApiError && error.status > 0 && error.status < 500) return false;
          return count < 2;
        },
      },
      mutations: { retry: false },
    },
  });
  return client;
}
