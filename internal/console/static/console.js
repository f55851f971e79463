// posta console: progressive enhancements only; every page works without this file.
(function () {
  'use strict';
  // Copy buttons: data-copy names the element whose value or text is copied.
  document.addEventListener('click', function (ev) {
    var btn = ev.target.closest('[data-copy]');
    if (!btn) return;
    var el = document.querySelector(btn.getAttribute('data-copy'));
    if (!el || !navigator.clipboard) return;
    var text = el.value !== undefined && el.tagName !== 'PRE' ? el.value : el.textContent;
    navigator.clipboard.writeText(text.trim()).then(function () {
      var label = btn.textContent;
      btn.textContent = '\u2713';
      btn.classList.add('copied');
      setTimeout(function () { btn.textContent = label; btn.classList.remove('copied'); }, 1500);
    });
  });
  // A form is sent once: its submit button is disabled while the next page loads.
  document.addEventListener('submit', function (ev) {
    var f = ev.target;
    if (f.method.toLowerCase() !== 'post') return;
    setTimeout(function () {
      f.querySelectorAll('button[type=submit]').forEach(function (b) { b.disabled = true; });
    }, 0);
  });
  window.addEventListener('pageshow', function () {
    document.querySelectorAll('button[type=submit][disabled]').forEach(function (b) { b.disabled = false; });
  });
  // Move focus to the first input in error, so keyboard and screen reader users land on it.
  var bad = document.querySelector('[aria-invalid="true"]');
  if (bad) bad.focus();
  // A page with work in progress (data-refresh: seconds) reloads itself while nobody is typing
  // in one of its forms.
  var live = document.querySelector('[data-refresh]');
  if (live) {
    setTimeout(function () {
      var a = document.activeElement;
      if (!a || !a.closest('form') || a.tagName === 'BUTTON') window.location.reload();
    }, 1000 * (parseInt(live.getAttribute('data-refresh'), 10) || 10));
  }
})();
