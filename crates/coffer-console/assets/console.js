// The console's only script: asks before a button marked data-confirm submits its form.
// Everything works without it (destructive key actions have a confirmation page of their own).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});
