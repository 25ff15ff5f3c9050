import { me, register } from "../api.js";
import { $, showError, t } from "../ui.js";

export default async function () {
  const form = $("#register-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("#form-error");
    error.hidden = true;
    if (form.password.value !== form.password2.value) {
      error.textContent = t("js:The two passwords differ.");
      error.hidden = false;
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await register(form.phone.value.trim(), form.password.value, form.name.value.trim());
      await me({ fresh: true });
      location.replace("/app/");
    } catch (err) {
      showError(error, err);
      button.disabled = false;
    }
  });
}
