import { login, me } from "../api.js";
import { $, showError } from "../ui.js";

function next() {
  const target = new URLSearchParams(location.search).get("next") || "/app/";
  return target.startsWith("/app") ? target : "/app/";
}

export default async function () {
  const form = $("#login-form");
  $("#deleted-note").hidden = new URLSearchParams(location.search).get("deleted") !== "1";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("#form-error");
    error.hidden = true;
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await login(form.phone.value.trim(), form.password.value);
      await me({ fresh: true });
      location.replace(next());
    } catch (err) {
      showError(error, err);
      button.disabled = false;
    }
  });
}
