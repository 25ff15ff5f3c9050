// My data: download a copy of it (a ZIP), or delete the account (the password again).
import { apiFull, download, forget, me } from "../api.js";
import * as outbox from "../outbox.js";
import { $, describe, showError, t, uuid } from "../ui.js";

// One key per visit: a retried deletion (a lost answer) is the same request.
const deletionKey = uuid();

function offline(node) {
  if (navigator.onLine) return false;
  node.textContent = t("js:You are offline: this needs the network.");
  node.hidden = false;
  return true;
}

async function saveCopy() {
  const state = $("#export-state");
  const button = $("#export");
  if (offline(state)) return;
  button.disabled = true;
  state.textContent = t("js:Preparing your data…");
  try {
    const { blob, filename } = await download("/api/v1/me/data-export");
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = filename || "my-data.zip";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    state.textContent = t("js:Your data was downloaded.");
  } catch (err) {
    state.textContent = describe(err);
  } finally {
    button.disabled = false;
  }
}

async function deleteAccount(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("#delete-error");
  error.hidden = true;
  if (offline(error)) return;
  if (!form.password.value || !form.sure.checked) {
    error.textContent = t("js:Enter your password and tick the box to confirm.");
    error.hidden = false;
    return;
  }
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    await apiFull("/api/v1/me/deletion", {
      method: "POST",
      json: { password: form.password.value },
      headers: { "Idempotency-Key": deletionKey },
    });
  } catch (err) {
    showError(error, err);
    button.disabled = false;
    return;
  }
  for (const item of await outbox.items()) await outbox.discard(item.id);
  await forget();
  location.replace("/app/login?deleted=1");
}

export default async function () {
  try {
    const person = await me();
    $("#me-who").textContent = person.account.name;
  } catch (err) {
    $("#me-who").textContent = "";
  }
  $("#export").addEventListener("click", saveCopy);
  $("#delete-form").addEventListener("submit", deleteAccount);
}
