// The page's only script, small progressive enhancements; everything works
// without it. It copies a new token secret to the clipboard, and choosing
// a custom expiry date selects the "On a date I choose" option.
document.addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const status = document.getElementById("copy-status");
  try {
    await navigator.clipboard.writeText(field.value);
    status.textContent = "Copied.";
  } catch {
    field.select();
    status.textContent = document.execCommand("copy") ? "Copied." : "Select the token and copy it.";
  }
});
document.addEventListener("input", (e) => {
  if (e.target.id !== "c-expires-on") return;
  const custom = document.getElementById("c-exp-custom");
  if (custom) custom.checked = true;
});
