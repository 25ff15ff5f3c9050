import { me, register, requestCode } from "../api.js";
import { $, showError, t } from "../ui.js";

// Two steps: the phone gets a texted code, then the code proves it with the name and password.
export default async function () {
  const codeForm = $("#code-form");
  const form = $("#register-form");
  const resend = $("#resend");
  let phone = "";
  let resendTimer = null;

  function allowResendIn(seconds) {
    resend.disabled = true;
    clearTimeout(resendTimer);
    resendTimer = setTimeout(() => (resend.disabled = false), seconds * 1000);
  }

  async function sendCode(errorNode) {
    errorNode.hidden = true;
    const sent = await requestCode(phone);
    $("#code-sent").textContent = t("js:A {length}-digit code was sent to {phone}. It is valid for {minutes} minutes.", {
      length: sent.code_length,
      phone,
      minutes: Math.round(sent.expires_in / 60),
    });
    allowResendIn(sent.resend_after);
  }

  codeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("#code-error");
    const button = codeForm.querySelector("button");
    button.disabled = true;
    phone = codeForm.phone.value.trim();
    try {
      await sendCode(error);
      codeForm.hidden = true;
      form.hidden = false;
      form.code.focus();
    } catch (err) {
      showError(error, err);
      button.disabled = false;
    }
  });

  resend.addEventListener("click", async () => {
    const error = $("#form-error");
    try {
      await sendCode(error);
    } catch (err) {
      showError(error, err);
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("#form-error");
    error.hidden = true;
    if (form.password.value !== form.password2.value) {
      error.textContent = t("js:The two passwords differ.");
      error.hidden = false;
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await register(phone, form.code.value.trim(), form.password.value, form.name.value.trim());
      await me({ fresh: true });
      location.replace("/app/");
    } catch (err) {
      showError(error, err);
      button.disabled = false;
    }
  });
}
