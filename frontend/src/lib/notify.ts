import { notifications } from "@mantine/notifications";
import { errorMessage } from "../api/client";

export function notifyError(error: unknown, title = "That did not work") {
  notifications.show({ color: "red", title, message: errorMessage(error), autoClose: 8000 });
}

export function notifySuccess(message: string, title?: string) {
  notifications.show({ color: "teal", title, message, autoClose: 4000 });
}
