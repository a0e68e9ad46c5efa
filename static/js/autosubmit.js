// A <select data-autosubmit> sends its form when changed (the language
// switcher). Here rather than in an onchange attribute: the
// Content-Security-Policy allows no inline script.
document.addEventListener("change", (event) => {
  const field = event.target.closest("select[data-autosubmit]");
  if (field && field.form) field.form.submit();
});
