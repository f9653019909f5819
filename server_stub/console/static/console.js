// The header's menus (<details>): one open at a time; Escape or a click elsewhere closes
// the open one, and Escape gives the focus back to its title.
(function () {
  function menus() { return document.querySelectorAll("header nav details.menu"); }
  document.addEventListener("toggle", function (ev) {
    var opened = ev.target;
    if (!(opened instanceof HTMLDetailsElement) || !opened.open) return;
    menus().forEach(function (d) { if (d !== opened) d.open = false; });
  }, true);
  document.addEventListener("click", function (ev) {
    menus().forEach(function (d) { if (d.open && !d.contains(ev.target)) d.open = false; });
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape") return;
    menus().forEach(function (d) {
      if (d.open) { d.open = false; d.querySelector("summary").focus(); }
    });
  });
})();
