// Copies a new token secret to the clipboard. The only script on the page;
// everything else works without it.
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
